// Scaling: prewarm to minInstances, autoscaler decisions acted on (start ahead of demand, drain on the
// way down without losing a request), scale to zero after the idle TTL, retire on a new deploy.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { invokeThrough } from '../support/fake-backend.js';
import { harness, version, within, type Harness } from './scheduler-harness.js';

let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

describe('scheduler scaling', () => {
  it('keeps minInstances warm from the moment a version is deployed', async () => {
    h = harness();
    await h.scheduler.prewarm(version('warm', 1, { minInstances: 2 }));
    await vi.waitFor(() => expect(h.scheduler.instances('warm').filter((i) => i.state === 'ready')).toHaveLength(2));
    h.scheduler.tick();
    expect(h.backend.starts).toHaveLength(2);
  });

  it('starts instances ahead of demand when the autoscaler asks for more, and feeds it in-flight + queued', async () => {
    h = harness();
    const v = version('grow', 1, { concurrency: 1, maxInstances: 5 });
    const lease = await h.scheduler.acquire(v, within(h));
    h.scheduler.tick();
    expect(h.policy.observed.at(-1)).toBe(1);
    h.policy.desired = 3;
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.instances('grow').filter((i) => i.state === 'ready')).toHaveLength(3));
    h.policy.desired = 99; // capped at maxInstances
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.instances('grow')).toHaveLength(5));
    lease.release('ok');
  });

  it('scales down by draining: the chosen instance finishes its request, takes no new ones, then stops', async () => {
    h = harness();
    const v = version('shrink', 1, { concurrency: 1 });
    h.policy.desired = 2;
    (await h.scheduler.acquire(v, within(h))).release('ok');
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.instances('shrink').filter((i) => i.state === 'ready')).toHaveLength(2));
    const hold = h.backend.holdRequests();
    const a = await h.scheduler.acquire(v, within(h));
    const inFlight = invokeThrough(a);
    await vi.waitFor(() => expect(h.backend.running.get(a.instance.instanceId)!.active).toBe(1));
    h.policy.desired = 1;
    h.scheduler.tick(); // the idle instance goes first, at once
    await vi.waitFor(() => expect(h.backend.running.size).toBe(1));
    h.policy.desired = 0;
    h.scheduler.tick();
    const busy = h.scheduler.instances('shrink').find((i) => i.id === a.instance.instanceId)!;
    expect(busy.state).toBe('draining');
    expect(h.backend.running.has(a.instance.instanceId)).toBe(true);
    hold();
    expect((await inFlight).status).toBe(200); // the request on the draining instance completes
    a.release('ok');
    await vi.waitFor(() => expect(h.backend.running.size).toBe(0));
    expect(h.scheduler.instances('shrink')).toHaveLength(0);
  });

  it('scales to zero after idleTtlMs without requests (real autoscaler, manual clock)', async () => {
    h = harness({ realAutoscaler: true });
    const v = version('idle', 1, { concurrency: 1, idleTtlMs: 5000 });
    (await h.scheduler.acquire(v, within(h))).release('ok');
    h.scheduler.tick();
    h.clock.advance(3000);
    h.scheduler.tick();
    expect(h.scheduler.instances('idle')).toHaveLength(1); // idle, but younger than the TTL
    h.clock.advance(2500);
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.backend.running.size).toBe(0));
    expect(h.scheduler.instances('idle')).toHaveLength(0);
    const again = await h.scheduler.acquire(v, within(h)); // and comes back on demand
    expect(again.start).toBe('container');
    again.release('ok');
  });

  it('retire(fn, keep) lets requests on the old version finish, then stops its instances', async () => {
    h = harness();
    const v1 = version('roll', 1);
    const v2 = version('roll', 2);
    const hold = h.backend.holdRequests();
    const old = await h.scheduler.acquire(v1, within(h));
    const pending = invokeThrough(old);
    await vi.waitFor(() => expect(h.backend.running.get(old.instance.instanceId)!.active).toBe(1));
    await h.scheduler.retire('roll', 2);
    const fresh = await h.scheduler.acquire(v2, within(h));
    expect(fresh.instance.version).toBe(2);
    expect(h.scheduler.instances('roll').find((i) => i.version === 1)!.state).toBe('draining');
    hold();
    expect((await pending).status).toBe(200);
    old.release('ok');
    await vi.waitFor(() => expect(h.backend.running.has(old.instance.instanceId)).toBe(false));
    fresh.release('ok');
    await h.scheduler.retire('roll'); // delete: everything goes
    await vi.waitFor(() => expect(h.backend.running.size).toBe(0));
  });
});
