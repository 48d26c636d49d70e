// Footprint: the gateway's resident memory (VmRSS of the platform child process, so the bench's own
// heap is not counted) idle and with N warm instances, and the memory of each of those instances read
// from its cgroup. N instances are made warm the way a user would: minInstances = N.

import { performance } from 'node:perf_hooks';
import { containerMemory } from './docker.js';
import type { Platform } from './platform.js';
import { summarize, waitFor, type Summary } from './stats.js';

export interface FootprintResult {
  instancesWanted: number;
  instancesReady: number;
  /** ms from the PATCH until all N were ready (null if not within the bound). */
  warmUpMs: number | null;
  gatewayRssIdleBytes: number | null;
  gatewayRssWithInstancesBytes: number | null;
  /** Per instance, bytes: cgroup usage without inactive page cache (as `docker stats`), and anonymous rss. */
  instanceUsage: Summary;
  instanceRss: Summary;
  instancesMeasured: number;
}

export async function footprint(p: Platform, name: string, n: number, log: (s: string) => void): Promise<FootprintResult> {
  const gatewayRssIdleBytes = await p.rss();
  const t0 = performance.now();
  const { version } = await p.patch(name, { minInstances: n, maxInstances: n, concurrency: 8, idleTtlMs: 600_000 });
  let warmUpMs: number | null = null;
  let ready = 0;
  try {
    await waitFor(`${n} ready instances`, async () => {
      ready = (await p.instances(name)).filter((i) => i.version === version && i.state === 'ready').length;
      return ready >= n ? true : undefined;
    }, 300_000, 1000);
    warmUpMs = performance.now() - t0;
  } catch (err) {
    log(`  ${(err as Error).message}; measuring the ${ready} that are ready`);
  }
  const gatewayRssWithInstancesBytes = await p.rss();
  const usage: number[] = [];
  const rss: number[] = [];
  for (const inst of await p.instances(name)) {
    if (inst.version !== version || inst.state !== 'ready') continue;
    const m = await containerMemory(`stratus-${inst.id}`);
    if (!m) continue;
    usage.push(m.usageBytes);
    rss.push(m.rssBytes);
  }
  log(`  ${ready}/${n} instances ready${warmUpMs === null ? '' : ` after ${Math.round(warmUpMs)} ms`}; ${usage.length} measured`);
  return {
    instancesWanted: n, instancesReady: ready, warmUpMs,
    gatewayRssIdleBytes, gatewayRssWithInstancesBytes,
    instanceUsage: summarize(usage), instanceRss: summarize(rss), instancesMeasured: usage.length,
  };
}
