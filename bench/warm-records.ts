// The warm path with invocation records on and off, side by side in one run. Two platform children alike
// in everything — Redis store (where records go), Docker backend, the same version image, one ready
// instance with room above the highest load — except that one wires the discardRecords sink
// (BENCH_RECORDS=off: each call's record is still built, but never batched nor written). Each level runs
// in many short slices that alternate between the sides (on, off, off, on, …) over kept-alive
// connections, so a drift of the machine's load falls on both alike; a side's slices are pooled. Recording a call must add no Redis round trip to the warm path: the on ÷ off
// median should be 1× within the noise. Afterwards the records are counted: the "on" side must have
// stored them and the "off" side none, or the comparison is void.

import { firstAnswer, newAgent, runLoad, type LoadResult, type Target } from './http-load.js';
import type { Platform } from './platform.js';
import { summarize, waitFor, type Summary } from './stats.js';
import type { WarmOptions } from './warm.js';

export interface RecordsSide {
  latency: Summary;
  rps: number;
  requests: number;
  errors: number;
}

export interface RecordsLevel {
  concurrency: number;
  on: RecordsSide;
  off: RecordsSide;
  /** p50 with records ÷ p50 without. */
  p50Ratio: number;
  /** requests/s with records ÷ requests/s without. */
  rpsRatio: number;
}

export interface RecordsResult {
  store: 'redis';
  rounds: number;
  levels: RecordsLevel[];
  /** Records each side stored of its calls, as listed (at most 1000; checked: on > 0, off = 0). */
  recordsStored: { on: number; off: number };
}

export interface RecordsDeps {
  launch(label: string, settings: Record<string, string>): Promise<Platform>;
  stop(p: Platform, fn: string): Promise<void>;
}

/** Redis prefixes of the two children, for the bench's cleanup (removed after the run, also on failure). */
export const recordsPrefixes = (runId: string) => ({ on: `stratus-bench-${runId}-rec-on:`, off: `stratus-bench-${runId}-rec-off:` });

export interface RecordsOptions extends Pick<WarmOptions, 'levels' | 'warmupMs'> {
  /** Slices per side and level, and the length of each. */
  rounds: number;
  sliceMs: number;
}

export async function recordsOnOff(deps: RecordsDeps, name: string, image: string, runId: string, o: RecordsOptions, log: (s: string) => void): Promise<RecordsResult> {
  const prefixes = recordsPrefixes(runId);
  const common = { STRATUS_STORE: 'redis', STRATUS_STEM_POOL_SIZE: '0' };
  const platforms: Platform[] = [];
  try {
    const on = await deps.launch('records-on', { ...common, STRATUS_REDIS_PREFIX: prefixes.on });
    platforms.push(on);
    const off = await deps.launch('records-off', { ...common, STRATUS_REDIS_PREFIX: prefixes.off, BENCH_RECORDS: 'off' });
    platforms.push(off);
    const maxLevel = Math.max(...o.levels);
    const config = { name, runtime: 'node', image, minInstances: 1, maxInstances: 1, concurrency: Math.max(64, maxLevel * 2), idleTtlMs: 600_000 };
    const targets = await Promise.all([on, off].map(async (p): Promise<Target> => {
      await p.api('POST', '/v1/functions', config);
      await waitFor(`one ready instance on ${p.label}`, async () => ((await p.instances(name)).some((i) => i.state === 'ready') ? true : undefined), 60_000, 100);
      const target: Target = { address: p.address, path: `/fn/${name}/` };
      await firstAnswer(target, 30_000, 10);
      return target;
    }));
    log(`  records on: ${on.url} (pid ${on.pid}) · records off: ${off.url} (pid ${off.pid}); Redis store, ${o.rounds} alternating slices of ${o.sliceMs} ms per side and level`);

    const levels: RecordsLevel[] = [];
    for (const c of o.levels) {
      const pooled = [newPool(), newPool()];
      const agents = [newAgent(c), newAgent(c)];
      try {
        for (const s of [0, 1]) await runLoad(targets[s]!, { concurrency: c, durationMs: o.warmupMs, maxRequests: 100_000 }, agents[s]);
        for (let r = 0; r < o.rounds; r++) {
          for (const s of r % 2 === 0 ? [0, 1] : [1, 0]) {
            const res = await runLoad(targets[s]!, { concurrency: c, durationMs: o.sliceMs, maxRequests: 1_000_000, timeoutMs: 10_000 }, agents[s]);
            addTo(pooled[s]!, res);
          }
        }
      } finally {
        for (const a of agents) a.destroy();
      }
      const [sOn, sOff] = pooled.map(sideOf) as [RecordsSide, RecordsSide];
      levels.push({ concurrency: c, on: sOn, off: sOff, p50Ratio: sOn.latency.p50 / sOff.latency.p50, rpsRatio: sOn.rps / sOff.rps });
      log(`  c=${c}: records on p50 ${sOn.latency.p50.toFixed(3)} ms ${Math.round(sOn.rps)}/s · off p50 ${sOff.latency.p50.toFixed(3)} ms ${Math.round(sOff.rps)}/s · on/off p50 ${(sOn.latency.p50 / sOff.latency.p50).toFixed(3)}×`);
    }

    // The writer flushes every 250 ms: wait for the "on" side's records, then check the "off" side has none.
    const stored = async (p: Platform) => (await p.api<{ invocations: unknown[] }>('GET', `/v1/functions/${name}/invocations?trigger=http&limit=1000`)).invocations.length;
    const onCount = await waitFor('the records of the "on" side', async () => {
      const n = await stored(on);
      return n > 0 ? n : undefined;
    }, 10_000, 100);
    const offCount = await stored(off);
    if (offCount !== 0) throw new Error(`the "off" platform stored ${offCount} records: BENCH_RECORDS=off was not honoured (BENCH_PLATFORM_MODULE without the option?)`);
    return { store: 'redis', rounds: o.rounds, levels, recordsStored: { on: onCount, off: offCount } };
  } finally {
    for (const p of platforms) await deps.stop(p, name);
  }
}

interface Pool {
  latencies: number[];
  requests: number;
  errors: number;
  elapsedMs: number;
}

const newPool = (): Pool => ({ latencies: [], requests: 0, errors: 0, elapsedMs: 0 });

function addTo(pool: Pool, r: LoadResult): void {
  for (const v of r.latenciesMs) pool.latencies.push(v);
  pool.requests += r.latenciesMs.length;
  pool.errors += r.errors;
  pool.elapsedMs += r.elapsedMs;
}

const sideOf = (p: Pool): RecordsSide => ({ latency: summarize(p.latencies), rps: (p.requests / p.elapsedMs) * 1000, requests: p.requests, errors: p.errors });
