// Dispatch: least-loaded choice, shared cold starts, the bounded queue and its deadline, slot hand-over.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { StratusError } from '../../core/errors.js';
import type { Lease } from '../../scheduler/scheduler.js';
import { invokeThrough } from '../support/fake-backend.js';
import { harness, version, within, type Harness } from './scheduler-harness.js';

let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

async function rejection(p: Promise<unknown>): Promise<StratusError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof StratusError)) throw new Error(`expected a StratusError, got ${String(err)}`);
  return err;
}

describe('scheduler dispatch', () => {
  it('sends each request to the least-loaded ready instance', async () => {
    h = harness();
    const v = version('hello', 1, { concurrency: 2, minInstances: 2 });
    await h.scheduler.prewarm(v);
    await vi.waitFor(() => expect(h.scheduler.instances('hello').length).toBe(2));
    const a = await h.scheduler.acquire(v, within(h));
    const b = await h.scheduler.acquire(v, within(h));
    expect(a.instance.instanceId).not.toBe(b.instance.instanceId);
    expect(a.start).toBe('warm');
    b.release('ok');
    const c = await h.scheduler.acquire(v, within(h));
    expect(c.instance.instanceId).toBe(b.instance.instanceId); // b's instance is idle, a's has one in flight
    expect(h.scheduler.instances('hello').map((i) => i.inFlight).sort()).toEqual([1, 1]);
    const res = await invokeThrough(c);
    expect(res.body.instance).toBe(c.instance.instanceId);
    a.release('ok');
    c.release('ok');
  });

  it('starts ceil(N / concurrency) instances for N concurrent requests on a cold function, not one per request', async () => {
    h = harness();
    const v = version('burst', 1, { concurrency: 4, maxInstances: 10 });
    const open = h.backend.holdStarts();
    const pending = Array.from({ length: 10 }, () => h.scheduler.acquire(v, within(h)));
    await vi.waitFor(() => expect(h.backend.starts.length).toBe(3));
    open();
    const leases = await Promise.all(pending);
    expect(h.backend.starts.length).toBe(3);
    expect(new Set(leases.map((l) => l.instance.instanceId)).size).toBe(3);
    expect(leases.every((l) => l.start === 'container' && l.coldStart?.kind === 'container')).toBe(true);
    const perInstance = h.scheduler.instances('burst').map((i) => i.inFlight);
    expect(Math.max(...perInstance)).toBeLessThanOrEqual(4);
    const bodies = await Promise.all(leases.map((l) => invokeThrough(l)));
    expect(bodies.every((b) => b.status === 200)).toBe(true);
    for (const l of leases) l.release('ok');
    expect(h.registry.render()).toMatch(/stratus_cold_starts_total\{function="burst",kind="container"\} 3/);
  });

  it('queues at maxInstances up to queueDepth, answers 429 with Retry-After beyond, and hands a freed slot to the oldest waiter', async () => {
    h = harness({ settings: { queueDepth: 2 } });
    const v = version('busy', 1, { concurrency: 1, maxInstances: 1 });
    const first = await h.scheduler.acquire(v, within(h));
    const order: string[] = [];
    const second = h.scheduler.acquire(v, within(h)).then((l) => (order.push('second'), l));
    const third = h.scheduler.acquire(v, within(h)).then((l) => (order.push('third'), l));
    const err = await rejection(h.scheduler.acquire(v, within(h)));
    expect(err.code).toBe('TOO_MANY_REQUESTS');
    expect(err.status).toBe(429);
    expect(err.details.retryAfterSeconds).toBeGreaterThan(0);
    expect(h.registry.render()).toMatch(/stratus_queue_depth\{function="busy"\} 2/);
    first.release('ok');
    const s = await second;
    expect(order).toEqual(['second']);
    expect(s.start).toBe('warm');
    s.release('ok');
    (await third).release('ok');
    expect(order).toEqual(['second', 'third']);
    expect(h.backend.starts.length).toBe(1);
  });

  it('answers 429 to a queued request once its queue deadline passes on the clock', async () => {
    h = harness({ settings: { queueTimeoutMs: 5000 } });
    const v = version('slow', 1, { concurrency: 1, maxInstances: 1 });
    const first = await h.scheduler.acquire(v, within(h));
    const waiting = rejection(h.scheduler.acquire(v, within(h)));
    h.clock.advance(4999);
    h.scheduler.tick();
    expect(h.scheduler.instances('slow')[0]!.inFlight).toBe(1);
    h.clock.advance(2);
    h.scheduler.tick();
    const err = await waiting;
    expect(err.code).toBe('TOO_MANY_REQUESTS');
    first.release('ok');
  });

  it('uses the request deadline when it is sooner than the queue timeout', async () => {
    h = harness({ settings: { queueTimeoutMs: 60_000 } });
    const v = version('slow', 1, { concurrency: 1, maxInstances: 1 });
    const first = await h.scheduler.acquire(v, within(h));
    const waiting = rejection(h.scheduler.acquire(v, within(h, 100)));
    h.clock.advance(101);
    h.scheduler.tick();
    expect((await waiting).code).toBe('TOO_MANY_REQUESTS');
    first.release('ok');
  });

  it('fails the waiters of a cold start that could not start, with an error that says so', async () => {
    h = harness();
    const v = version('broken', 1, { concurrency: 2 });
    h.backend.failStarts = 1;
    const errs = await Promise.all([rejection(h.scheduler.acquire(v, within(h))), rejection(h.scheduler.acquire(v, within(h)))]);
    expect(errs.map((e) => e.code)).toEqual(['INSTANCE_START_FAILED', 'INSTANCE_START_FAILED']);
    expect(errs[0]!.message).toMatch(/see GET \/v1\/functions\/broken\/logs$/);
    expect(errs[0]!.details).toMatchObject({ function: 'broken', logs: '/v1/functions/broken/logs' });
    // Within the crash-loop backoff a request is answered at once, without another start...
    const starts = h.backend.starts.length;
    expect((await rejection(h.scheduler.acquire(v, within(h)))).code).toBe('FUNCTION_UNAVAILABLE');
    expect(h.backend.starts).toHaveLength(starts);
    h.clock.advance(1000);
    const lease: Lease = await h.scheduler.acquire(v, within(h)); // ...and after it, the next request tries again
    expect(lease.start).toBe('container');
    lease.release('ok');
  });

  it('takes a cancelled waiter out of the queue', async () => {
    h = harness();
    const v = version('cancel', 1, { concurrency: 1, maxInstances: 1 });
    const first = await h.scheduler.acquire(v, within(h));
    const ac = new AbortController();
    const waiting = h.scheduler.acquire(v, { ...within(h), signal: ac.signal }).catch((e: unknown) => e);
    ac.abort(new Error('caller went away'));
    expect(String(await waiting)).toMatch(/caller went away/);
    expect(h.registry.render()).toMatch(/stratus_queue_depth\{function="cancel"\} 0/);
    first.release('ok');
  });
});

describe('scheduler dispatch after a troubled request', () => {
  it('gives the slot of a timed-out request to a waiter', async () => {
    h = harness();
    const v = version('slot', 1, { concurrency: 1, maxInstances: 1 });
    const first = await h.scheduler.acquire(v, within(h));
    const waiting = h.scheduler.acquire(v, within(h));
    first.release('timeout');
    const second = await waiting;
    expect(second.instance.instanceId).toBe(first.instance.instanceId);
    second.release('ok');
  });
});
