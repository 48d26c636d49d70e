// The scheduler and a data plane beside its leases (scheduler/instance-router.ts): ready instances are given
// to the router, a drained one stops only after the router let it go, the router's calls count in the
// autoscaler's input and keep an instance from going idle, and a call it saw break recycles the instance.
// The router here is a recorder the test answers for; the rules under test are the scheduler's.

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { InstanceRouter, RoutedInstance } from '../../scheduler/instance-router.js';
import { harness, version, within, type Harness } from './scheduler-harness.js';

class RecordingRouter implements InstanceRouter {
  readonly routed = new Map<string, RoutedInstance>();
  readonly releases = new Map<string, () => void>();
  readonly calls = new Map<string, number>();
  readonly last = new Map<string, number>();
  route(i: RoutedInstance): void {
    this.routed.set(i.id, i);
  }
  unroute(id: string, released: () => void): void {
    this.routed.delete(id);
    this.releases.set(id, released);
  }
  /** The proxy has no call left on it: the scheduler may stop it now. */
  release(id: string): void {
    const r = this.releases.get(id);
    this.releases.delete(id);
    queueMicrotask(() => r?.());
  }
  inFlight(): ReadonlyMap<string, number> {
    return this.calls;
  }
  lastCalls(): ReadonlyMap<string, number> {
    return this.last;
  }
  readonly listeners: Array<() => void> = [];
  onLoad(listener: () => void): void {
    this.listeners.push(listener);
  }
  /** A fresh read of the proxy's counts. */
  read(): void {
    for (const l of this.listeners) l();
  }
}

let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

/** A scheduler with a router attached and one instance of `fn@1` started by a call and given to the router. */
async function oneRouted(fn: string, cfg: Parameters<typeof version>[2], opts: Parameters<typeof harness>[0] = {}) {
  h = harness(opts);
  const router = new RecordingRouter();
  h.scheduler.attachRouter(router);
  const v = version(fn, 1, cfg);
  (await h.scheduler.acquire(v, within(h))).release('ok');
  await vi.waitFor(() => expect(router.routed.size).toBe(1));
  const [id] = [...router.routed.keys()];
  return { router, v, id: id };
}

describe('scheduler with an instance router (a native proxy)', () => {
  it('gives ready instances to the router, those ready before it was attached too, with what a record needs', async () => {
    h = harness();
    await h.scheduler.prewarm(version('early', 1, { minInstances: 1, memoryMb: 256, timeoutMs: 3000, concurrency: 4 }));
    await vi.waitFor(() => expect(h.scheduler.instances('early').filter((i) => i.state === 'ready')).toHaveLength(1));
    const router = new RecordingRouter();
    h.scheduler.attachRouter(router);
    const [only] = [...router.routed.values()];
    expect(only).toMatchObject({ function: 'early', version: 1, concurrency: 4, memoryMb: 256, timeoutMs: 3000 });
    await h.scheduler.prewarm(version('late', 2, { minInstances: 1 }));
    await vi.waitFor(() => expect([...router.routed.values()].map((i) => i.function).sort()).toEqual(['early', 'late']));
  });

  it('stops a drained instance only once the router let it go', async () => {
    h = harness();
    const router = new RecordingRouter();
    h.scheduler.attachRouter(router);
    const v = version('drained', 1, { concurrency: 1 });
    h.policy.desired = 2;
    (await h.scheduler.acquire(v, within(h))).release('ok');
    h.scheduler.tick();
    await vi.waitFor(() => expect(router.routed.size).toBe(2));
    h.policy.desired = 1;
    h.scheduler.tick();
    expect(router.releases.size).toBe(1);
    const [leaving] = [...router.releases.keys()];
    // No call of this process is on it, but the proxy may still have one: it is draining, still running.
    expect(h.scheduler.instances('drained').find((i) => i.id === leaving)?.state).toBe('draining');
    expect(h.backend.running.has(leaving!)).toBe(true);
    h.scheduler.tick();
    expect(h.backend.running.has(leaving!)).toBe(true);
    router.release(leaving!);
    await vi.waitFor(() => expect(h.backend.running.has(leaving!)).toBe(false));
    expect(router.routed.size).toBe(1);
  });

  it('counts the router\'s calls as concurrency, so a busy instance is not drained', async () => {
    const { router, id } = await oneRouted('busy', { concurrency: 2, idleTtlMs: 1000 });
    router.calls.set(id, 3);
    h.scheduler.tick();
    expect(h.policy.observed.at(-1)).toBe(3);
    expect(h.scheduler.instances('busy')[0]!.inFlight).toBe(3);
    // The autoscaler asks for none, but the proxy's 3 calls need 2 instances of concurrency 2: nothing drains.
    h.policy.desired = 0;
    h.scheduler.tick();
    expect(router.releases.size).toBe(0);
  });

  it('keeps an instance the proxy calls past its idle TTL, and lets it go to zero once the proxy stops calling', async () => {
    const { router, id } = await oneRouted('kept', { concurrency: 1, idleTtlMs: 2000 }, { realAutoscaler: true });
    // Every call goes through the proxy now: without its word the version would look idle after 2 s.
    for (let s = 0; s < 6; s++) {
      h.clock.advance(1000);
      router.last.set('kept@1', h.clock.now());
      h.scheduler.tick();
    }
    expect(router.releases.size).toBe(0);
    h.clock.advance(3000);
    h.scheduler.tick();
    expect(router.releases.has(id)).toBe(true);
    router.release(id);
    await vi.waitFor(() => expect(h.backend.running.has(id)).toBe(false));
  });

  it('counts an instance the proxy fills as busy, and hands the slot it frees to a waiting call at the next read', async () => {
    const { router, v, id } = await oneRouted('shared', { concurrency: 1, maxInstances: 1 });
    // The proxy has its one call on it: a call here waits (at maxInstances, nothing to start) instead of piling on.
    router.calls.set(id, 1);
    router.read();
    expect(h.scheduler.tryAcquire(v)).toBeNull();
    let served = false;
    const waiting = h.scheduler.acquire(v, within(h)).then((lease) => ((served = true), lease));
    await new Promise((r) => setTimeout(r, 20));
    expect(served).toBe(false);
    router.calls.set(id, 0);
    router.read();
    const lease = await waiting;
    expect(lease.instance.instanceId).toBe(id);
    lease.release('ok');
  });

  it('takes the proxy\'s word that its instances are full when it hands a call over, and starts another', async () => {
    const { v, id: first } = await oneRouted('overflow', { concurrency: 1, maxInstances: 3 });
    // Its last read said idle; the proxy says full now (it has just sent the instance a call).
    h.scheduler.routedFull(v);
    const lease = await h.scheduler.acquire(v, within(h));
    lease.release('ok');
    expect(lease.instance.instanceId).not.toBe(first);
    expect(h.backend.starts).toHaveLength(2);
  });

  it('recycles an instance the router saw break a call, and takes it out of the router first', async () => {
    h = harness();
    const router = new RecordingRouter();
    h.scheduler.attachRouter(router);
    const v = version('broken', 1, { minInstances: 1 });
    await h.scheduler.prewarm(v);
    await vi.waitFor(() => expect(router.routed.size).toBe(1));
    const [id] = [...router.routed.keys()];
    h.scheduler.routedOutcome(id, 'crashed');
    expect(router.releases.has(id)).toBe(true);
    await vi.waitFor(() => expect(h.backend.running.has(id)).toBe(false), { timeout: 3000 });
    // minInstances brings a new one, given to the router in turn.
    await vi.waitFor(() => expect([...router.routed.keys()].filter((k) => k !== id)).toHaveLength(1), { timeout: 3000 });
  });
});
