// Scale-up under a step load: one caller until the function has one warm instance, then a step to
// `callers` concurrent callers, each request holding its slot for `holdMs` (the function sleeps), so
// the scheduler must grow the pool to ceil(callers / per-instance concurrency) instances. Measured:
// the time from the step until that many instances are ready, and every non-2xx or failed request.

import { performance } from 'node:perf_hooks';
import { newAgent, runLoad, type LoadResult } from './http-load.js';
import type { Platform } from './platform.js';
import { sleep, summarize, waitFor, type Summary } from './stats.js';

export interface ScaleOptions {
  callers: number;
  perInstance: number;
  maxInstances: number;
  holdMs: number;
  stepMs: number;
}

export interface ScaleResult {
  callers: number;
  perInstance: number;
  maxInstances: number;
  holdMs: number;
  stepMs: number;
  neededInstances: number;
  /** ms from the step until ready instances × concurrency ≥ callers; null if never within stepMs. */
  timeToEnoughMs: number | null;
  maxReadySeen: number;
  /** [ms since the step, ready instances] each time the count changed. */
  readyTimeline: Array<[number, number]>;
  requests: number;
  errors: number;
  errorStatuses: Record<string, number>;
  latency: Summary;
  startKinds: Record<string, number>;
}

export async function scaleUp(p: Platform, name: string, o: ScaleOptions, log: (s: string) => void): Promise<ScaleResult> {
  const { version } = await p.patch(name, { minInstances: 0, maxInstances: o.maxInstances, concurrency: o.perInstance, idleTtlMs: 600_000 });
  await waitFor('the previous versions to retire', async () => ((await p.instances(name)).every((i) => i.version === version) ? true : undefined), 60_000, 100);
  const target = { address: p.address, path: `/fn/${name}/?sleep=${o.holdMs}` };
  const agent = newAgent(o.callers);
  try {
    // Before the step: one caller brings up the first instance (a cold start) and keeps it warm.
    const pre = await runLoad(target, { concurrency: 1, durationMs: 1500, maxRequests: 1000, timeoutMs: 30_000 }, agent);
    await waitFor('a ready stem before the step', async () => ((await p.metric('stratus_stems_ready', { runtime: 'node' })) >= 1 ? true : undefined), 30_000).catch(() => {});
    const needed = Math.ceil(o.callers / o.perInstance);
    const timeline: Array<[number, number]> = [];
    let enoughAt: number | null = null;
    let polling = true;
    const t0 = performance.now();
    const poller = (async () => {
      let last = -1;
      while (polling) {
        const ready = (await p.instances(name)).filter((i) => i.version === version && i.state === 'ready').length;
        const at = performance.now() - t0;
        if (ready !== last) timeline.push([Math.round(at), ready]);
        last = ready;
        if (enoughAt === null && ready >= needed) enoughAt = at;
        await sleep(50);
      }
    })();
    const step = await runLoad(target, { concurrency: o.callers, durationMs: o.stepMs, maxRequests: 1_000_000, timeoutMs: 30_000 }, agent);
    polling = false;
    await poller;
    const kinds: Record<string, number> = {};
    for (const i of await p.instances(name)) kinds[i.startKind] = (kinds[i.startKind] ?? 0) + 1;
    const all: LoadResult[] = [pre, step];
    const errorStatuses: Record<string, number> = {};
    for (const r of all) for (const [k, v] of Object.entries(r.errorStatuses)) errorStatuses[k] = (errorStatuses[k] ?? 0) + v;
    const result: ScaleResult = {
      callers: o.callers, perInstance: o.perInstance, maxInstances: o.maxInstances, holdMs: o.holdMs, stepMs: o.stepMs,
      neededInstances: needed, timeToEnoughMs: enoughAt, maxReadySeen: Math.max(0, ...timeline.map(([, n]) => n)), readyTimeline: timeline,
      requests: pre.latenciesMs.length + step.latenciesMs.length, errors: pre.errors + step.errors, errorStatuses,
      latency: summarize(step.latenciesMs), startKinds: kinds,
    };
    log(`  step 1→${o.callers}: ${needed} instances needed, enough after ${enoughAt === null ? 'never' : `${Math.round(enoughAt)} ms`}, ${result.errors} errors of ${result.requests}`);
    return result;
  } finally {
    agent.destroy();
  }
}
