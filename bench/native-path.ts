// The native data plane's warm path, side by side in one run (issue 20): the same instance — the Node
// runtime of this tree (runtime-images/node/runtime.mjs) as a host process on a unix socket, no Docker,
// with test/fixtures/functions/node-hello — called
//   direct       on its socket;
//   haproxy      through HAProxy with gateway/native/haproxy-config.ts, the function routed by the map to
//                the last of 64 slots (every slot's rule is evaluated before it), the instance added through
//                the runtime API with maxconn 64, and one per-call line per call read by call-lines.ts;
//   node proxy   through bench/bare-proxy.mjs: the least any Node hop costs (the gateway costs more: its
//                own warm section, bench/warm.ts);
//   nginx        in front of the same socket (keepalive upstream, no access log), when nginx is installed.
// Load: bench/http-load.ts (a Node client on the same 2 cores, so req/s is what the client and the proxy
// manage together), c=1 and c=32, in alternating rounds; medians of the rounds. Nothing is asserted.
// `npm run bench -- --only native` (≈ 20 s), or in every `npm run bench`.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { FUNCTIONS_FRONTEND, slotName } from '../gateway/native/haproxy-config.js';
import { startNativeProxy, type NativeProxy } from '../test/support/native-proxy.js';
import { freePort } from '../test/support/redis-server.js';
import { newAgent, runLoad, type Target } from './http-load.js';
import { ms, sleep, summarize } from './stats.js';

const ROOT = path.resolve(import.meta.dirname, '..');
/** Slots the config pre-creates; the bench's route is on the last. */
export const SLOTS = 64;

export interface NativePathOptions {
  rounds: number;
  roundMs: number;
  warmupMs: number;
}

export interface NativeSide {
  /** Median over the rounds of each round's p50 at c=1, ms. */
  c1P50Ms: number;
  /** Median over the rounds of req/s at c=32. */
  c32Rps: number;
  errors: number;
}

export interface NativePathResult {
  rounds: number;
  roundMs: number;
  slots: number;
  sides: Record<string, NativeSide>;
  /** Why a side is missing (nginx not installed). */
  missing: string[];
  /** HAProxy's per-call lines over the whole haproxy side: calls it counted, lines read, lost, fallbacks. */
  callLines: { calls: number; lines: number; dropped: number; toActivator: number; receiveBufferBytes: number };
}

const run = promisify(execFile);
export const has = (cmd: string) => run('bash', ['-c', `command -v ${cmd}`]).then(() => true, () => false);

export async function waitForSocket(p: string, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (fs.existsSync(p)) return;
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    await sleep(25);
  }
  throw new Error(`${what}: no socket ${p} after 10 s`);
}

/** A side that does not answer 200 would only measure its errors: wait for its first 200, or fail with what it said. */
export async function untilAnswers(url: string, child: ChildProcess, what: string): Promise<void> {
  let last = 'no answer';
  for (const until = Date.now() + 10_000; Date.now() < until; await sleep(50)) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const res = await fetch(url).catch((err: unknown) => err as Error);
    if (!(res instanceof Error) && res.status === 200) return;
    last = res instanceof Error ? res.message : `status ${res.status}`;
  }
  throw new Error(`${what} did not answer 200 within 10 s (last: ${last})`);
}

/**
 * Debian's nginx in front of `upstream` (a unix socket), in the foreground, its files under `dir`; added to
 * `children`. Its address once it answers 200, or null when nginx is not installed.
 */
export async function startNginx(dir: string, upstream: string, children: ChildProcess[]): Promise<{ host: '127.0.0.1'; port: number } | null> {
  if (!(await has('nginx'))) return null;
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, port, upstream));
  const nginx = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(nginx);
  await untilAnswers(`http://127.0.0.1:${port}/`, nginx, 'nginx');
  return { host: '127.0.0.1', port };
}

export function nginxConfig(dir: string, port: number, upstream: string): string {
  // Started as root, nginx's workers would run as nobody, who cannot open the runtime's socket in this 0700 dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `daemon off;
${user}worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  upstream fn { server unix:${upstream}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://fn; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`;
}

export async function nativePath(o: NativePathOptions, log: (s: string) => void): Promise<NativePathResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-native-bench-'));
  const children: ChildProcess[] = [];
  let proxy: NativeProxy | undefined;
  try {
    const runtimeSocket = path.join(tmp, 'runtime.sock');
    const runtime = spawn(process.execPath, [path.join(ROOT, 'runtime-images/node/runtime.mjs')], {
      env: { PATH: process.env.PATH ?? '', STRATUS_SOCKET: runtimeSocket, STRATUS_CODE_DIR: path.join(ROOT, 'test/fixtures/functions/node-hello'), STRATUS_CONCURRENCY: '64' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(runtime);
    await waitForSocket(runtimeSocket, runtime, 'the Node runtime');

    const targets: Record<string, Target> = { direct: { address: { socketPath: runtimeSocket }, path: '/' } };
    const missing: string[] = [];

    if (!(await has('haproxy'))) throw new Error('haproxy is not installed (bash scripts/lb.sh install)');
    proxy = await startNativeProxy({ slots: SLOTS });
    const slot = slotName(SLOTS - 1);
    await proxy.runtime.addServer(slot, 'runtime', { socketPath: runtimeSocket, maxconn: 64 });
    await proxy.runtime.setMapEntry(proxy.routes, 'bench', slot);
    targets.haproxy = { address: { host: '127.0.0.1', port: proxy.port }, path: '/fn/bench/' };

    const bare = spawn(process.execPath, [path.join(ROOT, 'bench/bare-proxy.mjs'), runtimeSocket], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(bare);
    const barePort = await new Promise<number>((resolve, reject) => {
      bare.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      bare.once('exit', (code) => reject(new Error(`bare-proxy.mjs exited with ${code}`)));
    });
    targets['node proxy'] = { address: { host: '127.0.0.1', port: barePort }, path: '/' };

    const nginx = await startNginx(tmp, runtimeSocket, children);
    if (nginx) targets.nginx = { address: nginx, path: '/' };
    else missing.push('nginx: not installed (no project script installs it; Debian\'s nginx would be measured here when present)');

    const names = Object.keys(targets);
    const seen = Object.fromEntries(names.map((n) => [n, { p50: [] as number[], rps: [] as number[], errors: 0 }]));
    const linesBefore = proxy.lines.length;
    const callsBefore = await proxy.runtime.requestsReceived(FUNCTIONS_FRONTEND);
    for (let r = 0; r < o.rounds; r++) {
      for (const concurrency of [1, 32]) {
        for (const name of r % 2 === 0 ? names : [...names].reverse()) {
          const agent = newAgent(concurrency);
          try {
            await runLoad(targets[name]!, { concurrency, durationMs: o.warmupMs, maxRequests: 1_000_000 }, agent);
            const res = await runLoad(targets[name]!, { concurrency, durationMs: o.roundMs, maxRequests: 2_000_000, timeoutMs: 10_000 }, agent);
            seen[name]!.errors += res.errors;
            if (concurrency === 1) seen[name]!.p50.push(summarize(res.latenciesMs).p50);
            else seen[name]!.rps.push(res.rps);
          } finally {
            agent.destroy();
          }
        }
      }
    }
    const calls = (await proxy.runtime.requestsReceived(FUNCTIONS_FRONTEND)) - callsBefore;
    // Lines still in flight on loopback arrive within a moment.
    for (let i = 0; i < 50 && proxy.lines.length - linesBefore < calls; i++) await sleep(20);
    const lines = proxy.lines.slice(linesBefore);
    const med = (xs: number[]) => summarize(xs).p50;
    const sides = Object.fromEntries(names.map((n) => [n, { c1P50Ms: med(seen[n]!.p50), c32Rps: med(seen[n]!.rps), errors: seen[n]!.errors }]));
    for (const [n, s] of Object.entries(sides)) log(`  ${n}: c=1 p50 ${ms(s.c1P50Ms)}, c=32 ${Math.round(s.c32Rps)}/s, errors ${s.errors}`);
    return {
      rounds: o.rounds, roundMs: o.roundMs, slots: SLOTS, sides, missing,
      callLines: { calls, lines: lines.length, dropped: Math.max(0, calls - lines.length), toActivator: lines.filter((l) => l.backend !== slot).length, receiveBufferBytes: proxy.reader.receiveBufferBytes },
    };
  } finally {
    await proxy?.close();
    for (const c of children) c.kill('SIGTERM');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
