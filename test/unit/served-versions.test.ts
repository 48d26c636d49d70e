// The served-versions reconciler (control/releases/served-versions.ts): it follows the store alone — the
// tests write records the way the API, a rollout or another replica would and never call it — and acts on
// the Scheduler: versions newly served are prewarmed, versions no alias serves any more are retired after
// the rollback grace (keeping what is served then), a deleted function's instances and metric series go.

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WeightedVersion } from '../../core/aliases.js';
import { parseFunctionConfig } from '../../core/function-config.js';
import { silentLogger } from '../../core/log.js';
import { MetricsRegistry } from '../../core/metrics.js';
import { createPlatformMetrics, forgetFunction } from '../../core/platform-metrics.js';
import { MemoryStore } from '../../core/store/memory.js';
import type { DeployedVersion, VersionRecord } from '../../core/types.js';
import { ServedVersions } from '../../control/releases/served-versions.js';

const config = parseFunctionConfig({ name: 'hello', runtime: 'node' });
const now = new Date(0).toISOString();
const GRACE = 60_000;

/** What the reconciler asked of the Scheduler, in order. */
class RecordingScheduler {
  readonly prewarmed: Array<{ function: string; version: number }> = [];
  readonly retired: Array<{ name: string; keep: number[] | 'all' }> = [];
  async prewarm(d: DeployedVersion): Promise<void> {
    this.prewarmed.push({ function: d.function, version: d.version });
  }
  async retire(name: string, keep?: number | ReadonlySet<number>): Promise<void> {
    this.retired.push({ name, keep: keep === undefined ? 'all' : typeof keep === 'number' ? [keep] : [...keep].sort() });
  }
}

const version = (n: number, status: VersionRecord['status'] = 'ready'): VersionRecord => ({
  function: 'hello', version: n, config, status, image: status === 'ready' ? `img:v${n}` : null, artifactDir: null, buildId: null, createdAt: now,
});

function setup(rollbackWarmMs = GRACE) {
  const store = new MemoryStore();
  const scheduler = new RecordingScheduler();
  const registry = new MetricsRegistry();
  const metrics = createPlatformMetrics(registry);
  const served = new ServedVersions({ store, scheduler, logger: silentLogger, rollbackWarmMs, forgetMetrics: (fn) => forgetFunction(registry, fn) });
  /** The function record as a rollout leaves it: latest at `current`, and named aliases. */
  const serve = (current: number | null, aliases: Record<string, WeightedVersion[]> = {}) =>
    store.updateFunction('hello', (f) => ({
      name: 'hello', config, latestVersion: 9, createdAt: now, ...f, currentVersion: current, updatedAt: now,
      aliases: Object.fromEntries(Object.entries(aliases).map(([a, versions]) => [a, { versions, updatedAt: now }])),
    }));
  return { store, scheduler, registry, metrics, served, serve };
}

let closeLast: (() => Promise<void>) | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await closeLast?.();
  closeLast = undefined;
});

describe('ServedVersions', () => {
  it('prewarms every ready version some alias serves at start, and each newly served one once, by the time the write resolves', async () => {
    const h = setup();
    closeLast = () => h.served.close();
    for (const v of [version(1), version(2), version(3), version(4, 'building')]) await h.store.putVersion(v);
    await h.serve(1, { prod: [{ version: 1, weight: 80 }, { version: 2, weight: 20 }], next: [{ version: 4, weight: 100 }] });
    await h.served.start();
    expect(h.scheduler.prewarmed).toEqual([{ function: 'hello', version: 1 }, { function: 'hello', version: 2 }]);
    expect(h.served.served('hello')).toEqual(new Set([1, 2, 4]));

    await h.serve(3, { prod: [{ version: 1, weight: 80 }, { version: 2, weight: 20 }], next: [{ version: 4, weight: 100 }] });
    expect(h.scheduler.prewarmed.map((p) => p.version)).toEqual([1, 2, 3]);
    await h.store.updateFunction('hello', (f) => f && { ...f, updatedAt: 'later' }); // an unrelated change
    expect(h.scheduler.prewarmed.map((p) => p.version)).toEqual([1, 2, 3]);
    expect(h.scheduler.retired).toEqual([]);
  });

  it('retires the versions no alias serves any more after the rollback grace, keeping what is served then', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = setup();
    closeLast = () => h.served.close();
    for (const n of [1, 2, 3]) await h.store.putVersion(version(n));
    await h.serve(1);
    await h.served.start();
    await h.serve(2);
    await vi.advanceTimersByTimeAsync(GRACE - 1);
    expect(h.scheduler.retired).toEqual([]); // kept warm for a rollback
    await vi.advanceTimersByTimeAsync(1);
    expect(h.scheduler.retired).toEqual([{ name: 'hello', keep: [2] }]);

    // latest moves on to 3, and within the grace an alias takes 2 back: the retirement keeps both.
    await h.serve(3);
    await vi.advanceTimersByTimeAsync(GRACE / 2);
    await h.serve(3, { prod: [{ version: 2, weight: 100 }] });
    await vi.advanceTimersByTimeAsync(GRACE / 2);
    expect(h.scheduler.retired).toEqual([{ name: 'hello', keep: [2] }, { name: 'hello', keep: [2, 3] }]);
    expect(h.scheduler.prewarmed.map((p) => p.version)).toEqual([1, 2, 3, 2]);
  });

  it('retires at once when the grace is 0, by the time the write resolves', async () => {
    const h = setup(0);
    closeLast = () => h.served.close();
    for (const n of [1, 2]) await h.store.putVersion(version(n));
    await h.serve(1, { prod: [{ version: 1, weight: 100 }] });
    await h.served.start();
    await h.serve(2, { prod: [{ version: 1, weight: 100 }] });
    expect(h.scheduler.retired).toEqual([]); // prod still serves 1
    await h.serve(2, { prod: [{ version: 2, weight: 100 }] });
    expect(h.scheduler.retired).toEqual([{ name: 'hello', keep: [2] }]);
  });

  it("retires a deleted function's instances and drops its metric series, when another replica deletes it too", async () => {
    const h = setup();
    closeLast = () => h.served.close();
    await h.store.putVersion(version(1));
    await h.serve(1);
    await h.served.start();
    h.metrics.invocations.inc({ function: 'hello', status: '200' });
    h.metrics.coldStarts.inc({ function: 'hello', kind: 'container' });
    expect(h.registry.render()).toContain('function="hello"');
    // What another replica's FunctionService.remove() does to the store; the reconciler only hears the notice.
    await h.store.deleteFunction('hello');
    expect(h.scheduler.retired).toEqual([{ name: 'hello', keep: 'all' }]);
    expect(h.registry.render()).not.toContain('function="hello"');
    expect(h.served.served('hello')).toBeUndefined();
  });

  it('drops the pending retirement of a deleted function, and every timer on close', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = setup();
    for (const n of [1, 2]) await h.store.putVersion(version(n));
    await h.serve(1);
    await h.served.start();
    await h.serve(2);
    await h.store.deleteFunction('hello');
    await vi.advanceTimersByTimeAsync(GRACE);
    expect(h.scheduler.retired).toEqual([{ name: 'hello', keep: 'all' }]);

    await h.store.putVersion({ ...version(3), function: 'other' });
    await h.store.putVersion({ ...version(4), function: 'other' });
    const other = (current: number) => h.store.updateFunction('other', (f) => ({ name: 'other', config, latestVersion: 4, createdAt: now, ...f, currentVersion: current, updatedAt: now }));
    await other(3);
    await other(4);
    await h.served.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(GRACE);
    expect(h.scheduler.retired).toEqual([{ name: 'hello', keep: 'all' }]);
  });

  it('after a resync (notices missed) prewarms a function made meanwhile and retires one deleted meanwhile', async () => {
    const h = setup();
    closeLast = () => h.served.close();
    let deaf = false;
    let tell: ((name: string | null) => unknown) | undefined;
    const watch = h.store.watchFunctions.bind(h.store);
    vi.spyOn(h.store, 'watchFunctions').mockImplementation((onChange) => {
      tell = onChange;
      return watch((name) => (deaf ? undefined : onChange(name)));
    });
    await h.store.putVersion(version(1));
    await h.serve(1);
    await h.served.start();
    deaf = true; // the subscription is down: these notices are lost
    await h.store.deleteFunction('hello');
    await h.store.putVersion({ ...version(2), function: 'made' });
    await h.store.updateFunction('made', () => ({ name: 'made', config, currentVersion: 2, latestVersion: 2, createdAt: now, updatedAt: now }));
    expect(h.scheduler.retired).toEqual([]);
    expect(h.scheduler.prewarmed).toEqual([{ function: 'hello', version: 1 }]);
    deaf = false;
    await tell!(null);
    expect(h.scheduler.retired).toEqual([{ name: 'hello', keep: 'all' }]);
    expect(h.scheduler.prewarmed).toEqual([{ function: 'hello', version: 1 }, { function: 'made', version: 2 }]);
  });
});
