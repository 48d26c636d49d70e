// Stems, the reaper (exits, timed-out and crashed requests), reconciliation and close().

import { afterEach, describe, expect, it, vi } from 'vitest';
import { StratusError } from '../../core/errors.js';
import { invokeThrough } from '../support/fake-backend.js';
import { harness, version, within, type Harness } from './scheduler-harness.js';

let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

const withCode = (fn: string, v = 1, cfg = {}) => version(fn, v, cfg, { artifactDir: `/artifacts/${fn}/${v}`, handler: 'index.handler' });

describe('stems', () => {
  it('keeps no stems for a runtime no function uses, and starts them once one is deployed', async () => {
    h = harness({ settings: { stemPoolSize: 2 } });
    h.scheduler.tick();
    await new Promise((r) => setTimeout(r, 50));
    expect(h.backend.byRole('stem')).toHaveLength(0);
    await h.scheduler.prewarm(withCode('hello'));
    await vi.waitFor(() => expect(h.scheduler.stems.readyCount('node')).toBe(2));
    h.scheduler.tick();
    expect(h.scheduler.stems.readyCount('python')).toBe(0);
    expect(h.backend.byRole('stem').every((s) => s.spec.runtime === 'node')).toBe(true);
  });

  it('a cold start claims a ready stem, specializes it with /init, and the pool refills', async () => {
    h = harness({ settings: { stemPoolSize: 1 } });
    h.scheduler.stems.fill('node'); // a Node function is in use
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.stems.readyCount('node')).toBe(1));
    const stemId = h.backend.byRole('stem').find((s) => s.spec.runtime === 'node')!.spec.instanceId;
    const v = withCode('fast', 3, { memoryMb: 512, concurrency: 7, env: { GREETING: 'hi' } });
    const lease = await h.scheduler.acquire(v, within(h));
    expect(lease.start).toBe('stem');
    expect(lease.coldStart?.kind).toBe('stem');
    expect(lease.instance.instanceId).toBe(stemId);
    expect(h.backend.memoryLimits).toEqual([{ instanceId: stemId, memoryMb: 512 }]);
    expect(h.backend.staged).toEqual([{ instanceId: stemId, artifactDir: '/artifacts/fast/3' }]);
    expect(h.backend.running.get(stemId)!.init).toEqual({ codeDir: '/code', handler: 'index.handler', function: 'fast', version: 3, env: { GREETING: 'hi' }, concurrency: 7 });
    expect((await invokeThrough(lease)).body.function).toBe('fast');
    expect(h.backend.starts.filter((s) => s.role === 'function')).toHaveLength(0);
    await vi.waitFor(() => expect(h.scheduler.stems.readyCount('node')).toBe(1)); // refilled
    expect(h.scheduler.instances('fast')[0]!.startKind).toBe('stem');
    lease.release('ok');
    expect(h.registry.render()).toMatch(/stratus_cold_start_phase_seconds_count\{kind="stem",phase="init"\} 1/);
  });

  it('skips the memory update when the function has the stem\'s own limit', async () => {
    h = harness({ settings: { stemPoolSize: 1 } });
    h.scheduler.stems.fill('node'); // a Node function is in use
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.stems.readyCount('node')).toBe(1));
    const lease = await h.scheduler.acquire(withCode('same', 1, { memoryMb: h.scheduler.stems.memoryMb }), within(h));
    expect(lease.start).toBe('stem');
    expect(h.backend.memoryLimits).toEqual([]);
    lease.release('ok');
  });

  it('refills only once the claimed stem is specialized, so the refill does not slow the cold start', async () => {
    h = harness({ settings: { stemPoolSize: 1 } });
    h.scheduler.stems.fill('node'); // a Node function is in use
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.stems.readyCount('node')).toBe(1));
    const stemStarts = () => h.backend.starts.filter((s) => s.role === 'stem' && s.runtime === 'node').length;
    const stem = h.scheduler.stems.claim('node');
    expect(stem).not.toBeNull();
    expect(stemStarts()).toBe(1); // a bare claim starts nothing
    h.scheduler.stems.forget(stem!.instanceId);
    const lease = await h.scheduler.acquire(withCode('later'), within(h)); // no stem now: container, and a refill
    expect(lease.start).toBe('container');
    expect(stemStarts()).toBe(2);
    lease.release('ok');
  });

  it('holds stem refills while new containers are starting, and refills when they are done', async () => {
    h = harness({ settings: { stemPoolSize: 1 } });
    h.scheduler.stems.fill('node'); // a Node function is in use
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.stems.readyCount('node')).toBe(1));
    const stemStarts = () => h.backend.starts.filter((s) => s.role === 'stem' && s.runtime === 'node').length;
    const open = h.backend.holdStarts();
    const pending = h.scheduler.acquire(version('own-image'), within(h)); // a container start, held
    await vi.waitFor(() => expect(h.backend.starts.filter((s) => s.role === 'function')).toHaveLength(1));
    h.scheduler.stems.forget(h.scheduler.stems.claim('node')!.instanceId);
    h.scheduler.tick();
    expect(stemStarts()).toBe(1); // held: no docker run beside the starting container
    open();
    const lease = await pending;
    await vi.waitFor(() => expect(stemStarts()).toBe(2));
    lease.release('ok');
  });

  it('falls back to a new container when the stem refuses the code, and stops that stem', async () => {
    h = harness({ settings: { stemPoolSize: 1 } });
    h.scheduler.stems.fill('node'); // a Node function is in use
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.stems.readyCount('node')).toBe(1));
    const stemId = h.backend.byRole('stem')[0]!.spec.instanceId;
    h.backend.initStatus = 400;
    const lease = await h.scheduler.acquire(withCode('bad'), within(h));
    expect(lease.start).toBe('container');
    expect(h.backend.stops).toContain(stemId);
    expect(h.backend.starts.filter((s) => s.role === 'function')).toHaveLength(1);
    lease.release('ok');
  });

  it('a version without a code tree (the user image) always starts a container from its image', async () => {
    h = harness({ settings: { stemPoolSize: 1 } });
    h.scheduler.stems.fill('node'); // a Node function is in use
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.stems.readyCount('node')).toBe(1));
    const lease = await h.scheduler.acquire(version('own-image'), within(h));
    expect(lease.start).toBe('container');
    expect(h.backend.starts.find((s) => s.role === 'function')!.image).toBe('127.0.0.1:5000/stratus/own-image:1');
    lease.release('ok');
  });
});

describe('reaper', () => {
  it('an instance that exits leaves its pool at once and is replaced to keep minInstances', async () => {
    h = harness();
    const v = version('crashy', 1, { minInstances: 1 });
    await h.scheduler.prewarm(v);
    await vi.waitFor(() => expect(h.scheduler.instances('crashy')).toHaveLength(1));
    const first = h.scheduler.instances('crashy')[0]!.id;
    await h.backend.kill(first, 'oom');
    await vi.waitFor(() => expect(h.scheduler.instances('crashy').map((i) => i.id)).not.toContain(first));
    await vi.waitFor(() => expect(h.scheduler.instances('crashy')).toHaveLength(1));
    const lease = await h.scheduler.acquire(v, within(h));
    expect(lease.instance.instanceId).not.toBe(first);
    expect((await invokeThrough(lease)).status).toBe(200);
    lease.release('ok');
  });

  it('lease.diagnose reports an OOM kill; a crashed release removes the instance', async () => {
    h = harness();
    const v = version('oom');
    const lease = await h.scheduler.acquire(v, within(h));
    await h.backend.kill(lease.instance.instanceId, 'oom');
    expect(await lease.diagnose()).toEqual({ reason: 'oom', exitCode: 137 });
    lease.release('crashed');
    await vi.waitFor(() => expect(h.scheduler.instances('oom')).toHaveLength(0));
  });

  it('after a timed-out request, an instance that fails its health check is stopped; a healthy one stays', async () => {
    h = harness();
    const v = version('hang', 1, { concurrency: 2 });
    const a = await h.scheduler.acquire(v, within(h));
    const id = a.instance.instanceId;
    a.release('timeout'); // healthy: stays
    const b = await h.scheduler.acquire(v, within(h));
    expect(b.instance.instanceId).toBe(id);
    h.backend.running.get(id)!.healthy = false;
    b.release('timeout');
    await vi.waitFor(() => expect(h.backend.stops).toContain(id));
    expect(h.scheduler.instances('hang')).toHaveLength(0);
  });
});

describe('reconcile and close', () => {
  it('reconcile adopts instances of the current version and removes stems and other versions', async () => {
    h = harness();
    const spec = (id: string, role: 'function' | 'stem', fn: string | null, v: number | null) => ({ instanceId: id, role, runtime: 'node' as const, function: fn, version: v, image: 'img', artifactDir: null, handler: null, memoryMb: 128, env: {} });
    await h.backend.start(spec('old-1', 'function', 'app', 1));
    await h.backend.start(spec('cur-2', 'function', 'app', 2));
    await h.backend.start(spec('gone-1', 'function', 'deleted', 1));
    await h.backend.start(spec('stem-x', 'stem', null, null));
    h.current.set('app', 2);
    h.versions.set('app@2', version('app', 2));
    await h.scheduler.reconcile({ storeRemembers: true }); // the store knows its functions: "deleted" is gone
    expect([...h.backend.running.keys()]).toEqual(['cur-2']);
    expect(h.scheduler.instances('app')).toMatchObject([{ id: 'cur-2', version: 2, state: 'ready', inFlight: 0 }]);
    const lease = await h.scheduler.acquire(version('app', 2), within(h));
    expect(lease.instance.instanceId).toBe('cur-2');
    expect(lease.start).toBe('warm');
    lease.release('ok');
  });

  it('close refuses new work, fails waiters, lets in-flight finish, and leaves nothing running; twice is fine', async () => {
    h = harness({ settings: { stemPoolSize: 1 } });
    h.scheduler.stems.fill('node'); // a Node function is in use
    h.scheduler.tick();
    const v = version('busy', 1, { concurrency: 1, maxInstances: 1 });
    const lease = await h.scheduler.acquire(v, within(h));
    const queued = h.scheduler.acquire(v, within(h)).catch((e: unknown) => e);
    const open = h.backend.holdStarts();
    const starting = h.scheduler.acquire(version('cold'), within(h)).catch((e: unknown) => e);
    const closing = h.scheduler.close();
    expect(((await queued) as StratusError).code).toBe('SHUTTING_DOWN');
    expect(((await starting) as StratusError).code).toBe('SHUTTING_DOWN');
    expect((await invokeThrough(lease)).status).toBe(200); // in flight during close: still served
    lease.release('ok');
    open();
    await closing;
    await h.scheduler.close();
    expect(h.backend.running.size).toBe(0);
    const after = await h.scheduler.acquire(v, within(h)).catch((e: unknown) => e);
    expect((after as StratusError).code).toBe('SHUTTING_DOWN');
  });
});
