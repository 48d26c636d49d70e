// Warm overhead: the same function called through the gateway (/fn/NAME) and directly (the version's
// own image run with --network host on a free loopback port, the floor). Both sides get one instance
// (the platform's function is PATCHed to maxInstances 1 and a per-instance concurrency above the
// highest level), so the only difference is the gateway hop. A bare Node proxy in front of the direct
// container (bench/bare-proxy.mjs) is measured too: what any Node hop costs on this machine. Levels
// run direct, bare proxy, gateway, each after a short warm-up, with the same closed-loop load.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { docker, freePort, removeContainer, runArgs } from './docker.js';
import { firstAnswer, newAgent, runLoad, type LoadResult, type Target } from './http-load.js';
import type { Platform } from './platform.js';
import { summarize, waitFor, type Summary } from './stats.js';

export interface WarmSide {
  latency: Summary;
  rps: number;
  requests: number;
  errors: number;
  errorStatuses: Record<string, number>;
}

export interface WarmLevel {
  concurrency: number;
  direct: WarmSide;
  /** The direct container behind bench/bare-proxy.mjs: the cost of any Node.js hop, as an anchor. */
  bareProxy: WarmSide;
  gateway: WarmSide;
  /** gateway p50 − direct p50, ms. */
  addedP50Ms: number;
  addedP99Ms: number;
  /** gateway requests/s ÷ direct requests/s. */
  rpsRatio: number;
  p50Ratio: number;
}

export interface WarmOptions {
  levels: number[];
  durationMs: number;
  warmupMs: number;
}

function side(r: LoadResult): WarmSide {
  return { latency: summarize(r.latenciesMs), rps: r.rps, requests: r.latenciesMs.length, errors: r.errors, errorStatuses: r.errorStatuses };
}

async function measure(target: Target, concurrency: number, o: WarmOptions): Promise<WarmSide> {
  const agent = newAgent(concurrency);
  try {
    await runLoad(target, { concurrency, durationMs: o.warmupMs, maxRequests: 100_000 }, agent);
    return side(await runLoad(target, { concurrency, durationMs: o.durationMs, maxRequests: 1_000_000, timeoutMs: 10_000 }, agent));
  } finally {
    agent.destroy();
  }
}

export async function warmOverhead(p: Platform, name: string, image: string, runId: string, o: WarmOptions, log: (s: string) => void): Promise<WarmLevel[]> {
  const maxLevel = Math.max(...o.levels);
  const { version } = await p.patch(name, { minInstances: 1, maxInstances: 1, concurrency: Math.max(64, maxLevel * 2), idleTtlMs: 600_000 });
  await waitFor('one ready instance of the warm version', async () => {
    const all = await p.instances(name);
    return all.length === 1 && all[0]!.version === version && all[0]!.state === 'ready' ? true : undefined;
  }, 60_000, 100);

  const port = await freePort();
  const proxy = spawn(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'bare-proxy.mjs'), String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const direct = `stratus-bench-${runId}-direct`;
  // Same env the Docker backend gives a function container, but PORT on the host network instead of a socket.
  await docker(runArgs({ runId, name: direct, image, networkHost: true, memoryMb: 256, env: { PORT: String(port), STRATUS_HANDLER: 'index.handler', STRATUS_FUNCTION_NAME: name } }));
  try {
    const directTarget: Target = { address: { host: '127.0.0.1', port }, path: '/' };
    const gatewayTarget: Target = { address: p.address, path: `/fn/${name}/` };
    const proxyPort = await new Promise<number>((resolve, reject) => {
      proxy.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      proxy.once('exit', (code) => reject(new Error(`bare-proxy.mjs exited with ${code}`)));
    });
    const proxyTarget: Target = { address: { host: '127.0.0.1', port: proxyPort }, path: '/' };
    await firstAnswer(directTarget, 30_000, 10);
    await firstAnswer(proxyTarget, 30_000, 10);
    await firstAnswer(gatewayTarget, 30_000, 10);
    const out: WarmLevel[] = [];
    for (const c of o.levels) {
      const d = await measure(directTarget, c, o);
      const b = await measure(proxyTarget, c, o);
      const g = await measure(gatewayTarget, c, o);
      const line = (x: WarmSide) => `p50 ${x.latency.p50.toFixed(3)} ms ${Math.round(x.rps)}/s`;
      log(`  c=${c}: direct ${line(d)} · bare proxy ${line(b)} · gateway ${line(g)}`);
      out.push({
        concurrency: c, direct: d, bareProxy: b, gateway: g,
        addedP50Ms: g.latency.p50 - d.latency.p50,
        addedP99Ms: g.latency.p99 - d.latency.p99,
        rpsRatio: g.rps / d.rps,
        p50Ratio: g.latency.p50 / d.latency.p50,
      });
    }
    return out;
  } finally {
    proxy.stdin!.end();
    proxy.kill();
    await removeContainer(direct);
  }
}
