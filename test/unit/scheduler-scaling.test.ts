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
    const v = version('shrink', 1, { concurrency: 2 });
    h.policy.desired = 3;
    (await h.scheduler.acquire(v, within(h))).release('ok');
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.instances('shrink').filter((i) => i.state === 'ready')).toHaveLength(3));
    const hold = h.backend.holdRequests();
    // Least-loaded dispatch puts one request on each of two instances; the third stays idle.
    const a = await h.scheduler.acquire(v, within(h));
    const b = await h.scheduler.acquire(v, within(h));
    expect(b.instance.instanceId).not.toBe(a.instance.instanceId);
    const inFlight = [invokeThrough(a), invokeThrough(b)];
    await vi.waitFor(() => expect(h.backend.running.get(a.instance.instanceId)!.active + h.backend.running.get(b.instance.instanceId)!.active).toBe(2));
    h.policy.desired = 2;
    h.scheduler.tick(); // the idle instance goes first, at once
    await vi.waitFor(() => expect(h.backend.running.size).toBe(2));
    // Two requests in flight need one instance of concurrency 2: one busy instance is drained.
    h.policy.desired = 1;
    h.scheduler.tick();
    const draining = h.scheduler.instances('shrink').filter((i) => i.state === 'draining');
    expect(draining).toHaveLength(1);
    expect(h.backend.running.has(draining[0]!.id)).toBe(true);
    // A new request never lands on the draining instance.
    const c = h.scheduler.tryAcquire?.(v) ?? (await h.scheduler.acquire(v, within(h)));
    expect(c.instance.instanceId).not.toBe(draining[0]!.id);
    c.release('ok');
    hold();
    expect((await Promise.all(inFlight)).map((r) => r.status)).toEqual([200, 200]); // both complete
    a.release('ok');
    b.release('ok');
    await vi.waitFor(() => expect(h.backend.running.size).toBe(1));
    expect(h.scheduler.instances('shrink').map((i) => i.state)).toEqual(['ready']);
  });

  it('does not drain below what the requests in flight need, even when the autoscaler says less', async () => {
    h = harness();
    const v = version('burst', 1, { concurrency: 1 });
    h.policy.desired = 2;
    (await h.scheduler.acquire(v, within(h))).release('ok');
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.instances('burst').filter((i) => i.state === 'ready')).toHaveLength(2));
    const hold = h.backend.holdRequests();
    const leases = [await h.scheduler.acquire(v, within(h)), await h.scheduler.acquire(v, within(h))];
    const inFlight = leases.map((l) => invokeThrough(l));
    h.policy.desired = 0;
    h.scheduler.tick();
    expect(h.scheduler.instances('burst').map((i) => i.state)).toEqual(['ready', 'ready']);
    hold();
    await Promise.all(inFlight);
    for (const l of leases) l.release('ok');
  });

  it('drains at most half of the instances per tick (Knative max scale-down rate 2)', async () => {
    h = harness();
    const v = version('halve', 1, { concurrency: 1 });
    h.policy.desired = 4;
    (await h.scheduler.acquire(v, within(h))).release('ok');
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.instances('halve').filter((i) => i.state === 'ready')).toHaveLength(4));
    h.policy.desired = 1;
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.instances('halve')).toHaveLength(2));
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.instances('halve')).toHaveLength(1));
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
