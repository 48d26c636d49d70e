// The load check as a Scheduler probe: one start of a version not yet served, whose ready instance joins
// the version's pool (the rollout and the first call find it warm: one cold start per redeploy); a failed
// probe is the build's failure and leaves the crash-loop backoff alone; an instance of a version that is
// never served goes with the idle TTL or a retire. And close() drains on the injected clock.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { LoadFailure } from '../../core/ports/load-check.js';
import { InstanceStartError } from '../../scheduler/backends/start-output.js';
import { harness, version, within, type Harness } from './scheduler-harness.js';

let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

const live = () => new AbortController().signal;
const coldStarts = (fn: string) => h.registry.render().split('\n').filter((l) => l.startsWith(`stratus_cold_starts_total{function="${fn}"`)).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

describe('Scheduler.probe (the load check)', () => {
  it('keeps the ready instance in the version\'s pool: the first call after it is warm, one start in all', async () => {
    h = harness();
    const v = version('redeploy', 2);
    await h.scheduler.probe(v, live());
    expect(h.backend.starts).toHaveLength(1);
    expect(h.scheduler.instances('redeploy')).toMatchObject([{ version: 2, state: 'ready', startKind: 'container' }]);
    h.scheduler.tick();
    const lease = await h.scheduler.acquire(v, within(h));
    expect(lease.start).toBe('warm');
    lease.release('ok');
    expect(h.backend.starts).toHaveLength(1);
    expect(coldStarts('redeploy')).toBe(1);
  });

  it('starts a container of its own from the image even with stems ready: the check covers what a container runs', async () => {
    h = harness({ settings: { stemPoolSize: 1 } });
    h.scheduler.stems.fill('node');
    await vi.waitFor(() => expect(h.scheduler.stems.readyCount('node')).toBe(1));
    await h.scheduler.probe(version('own', 1, {}, { artifactDir: '/code/own/v1' }), live());
    expect(h.backend.byRole('function').map((i) => i.spec.image)).toEqual(['127.0.0.1:5000/stratus/own:1']);
    expect(h.scheduler.stems.readyCount('node')).toBe(1);
  });

  it('a failed start rejects with a LoadFailure in the runtime\'s words and leaves no backoff, pool or instance behind', async () => {
    h = harness();
    const output = ['stratus-runtime: listening', 'stratus-runtime: cannot load handler "index.handler" from /app: SyntaxError: Unexpected token (at index.js:2)'];
    vi.spyOn(h.backend, 'start').mockRejectedValueOnce(new InstanceStartError('function broken v2: the runtime exited with code 1 before it was ready; see the instance logs', {}, output));
    const err = await h.scheduler.probe(version('broken', 2), live()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoadFailure);
    expect(err).toMatchObject({ code: 'INSTANCE_START_FAILED', output, summary: 'cannot load handler "index.handler" from /app: SyntaxError: Unexpected token (at index.js:2)' });
    expect(h.scheduler.failing('broken')).toBeNull();
    expect(h.scheduler.instances('broken')).toEqual([]);
    // Not counted as a crash loop: a call of that version (were it ever served) starts at once.
    const lease = await h.scheduler.acquire(version('broken', 2), within(h));
    expect(lease.start).toBe('container');
    lease.release('ok');
  });

  it('a failure that is not the version\'s (shutting down) is no LoadFailure', async () => {
    h = harness();
    await h.scheduler.close();
    const err = await h.scheduler.probe(version('late', 1), live()).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(LoadFailure);
    expect(err).toMatchObject({ code: 'SHUTTING_DOWN' });
  });

  it('gives the start up when the build\'s signal aborts', async () => {
    h = harness();
    const open = h.backend.holdStarts();
    const stop = new AbortController();
    const probing = h.scheduler.probe(version('slow', 1), stop.signal).catch((e: unknown) => e);
    await vi.waitFor(() => expect(h.backend.starts).toHaveLength(1));
    stop.abort('timeout');
    expect(await probing).toBeInstanceOf(Error);
    open();
    expect(h.scheduler.instances('slow')).toEqual([]);
  });

  it('keeps no minInstances for a version under its check until it is deployed (prewarm)', async () => {
    h = harness();
    const v = version('min', 3, { minInstances: 2 });
    await h.scheduler.probe(v, live());
    h.scheduler.tick();
    h.scheduler.tick();
    expect(h.backend.starts).toHaveLength(1);
    await h.scheduler.prewarm(v);
    await vi.waitFor(() => expect(h.scheduler.instances('min').filter((i) => i.state === 'ready')).toHaveLength(2));
    expect(h.backend.starts).toHaveLength(2);
  });

  it('the instance of a version never served goes after the idle TTL', async () => {
    h = harness({ realAutoscaler: true });
    await h.scheduler.probe(version('unserved', 4, { idleTtlMs: 5000 }), live());
    h.scheduler.tick();
    h.clock.advance(4000);
    h.scheduler.tick();
    expect(h.scheduler.instances('unserved')).toHaveLength(1);
    h.clock.advance(2000);
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.backend.running.size).toBe(0));
    expect(h.scheduler.instances('unserved')).toEqual([]);
  });

  it('the instance of a version never served goes with a retire that keeps the served one', async () => {
    h = harness();
    await h.scheduler.probe(version('stale', 5), live());
    await h.scheduler.retire('stale', 6);
    await vi.waitFor(() => expect(h.backend.running.size).toBe(0));
    expect(h.scheduler.instances('stale')).toEqual([]);
  });
});

describe('PoolScheduler.close', () => {
  it('waits for requests in flight until the drain timeout on the injected clock, then stops their instances', async () => {
    h = harness({ settings: { drainTimeoutMs: 600_000 } });
    const lease = await h.scheduler.acquire(version('hung', 1), within(h));
    let closed = false;
    const closing = h.scheduler.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false);
    h.clock.advance(600_000);
    await closing;
    expect(h.backend.running.size).toBe(0);
    lease.release('ok');
  });
});
