// Crash-loop backoff: the arithmetic on a manual clock, then the scheduler acting on it with the fake
// backend — starts spaced 1 s, 2 s, 4 s … only while someone waits or minInstances asks, a fast 503 in
// between, `failing` shown with the last error and the next try, and recovery once an instance stays up.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { StratusError } from '../../core/errors.js';
import { ManualClock } from '../../core/lifecycle.js';
import { backoffDelay, CrashBackoff } from '../../scheduler/crash-backoff.js';
import { harness, version, within, type Harness } from './scheduler-harness.js';

describe('backoff arithmetic', () => {
  it('waits 1 s, 2 s, 4 s … after consecutive failures, capped', () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, 1000, 300_000))).toEqual([0, 1000, 2000, 4000, 8000, 16_000]);
    expect(backoffDelay(9, 1000, 300_000)).toBe(256_000);
    expect(backoffDelay(10, 1000, 300_000)).toBe(300_000);
    expect(backoffDelay(10_000, 1000, 300_000)).toBe(300_000);
  });

  it('forbids a start until the delay has passed on the clock, and counts starts of one round once', () => {
    const clock = new ManualClock(0);
    const b = new CrashBackoff(clock);
    expect(b.canStart()).toBe(true);
    const round = b.round;
    b.failed(round, 'exited with code 1');
    b.failed(round, 'exited with code 1'); // a sibling start of the same burst
    expect(b.state()).toMatchObject({ failures: 1, lastError: 'exited with code 1', nextTryAt: 1000 });
    clock.advance(999);
    expect(b.canStart()).toBe(false);
    expect(b.waitMs()).toBe(1);
    clock.advance(1);
    expect(b.canStart()).toBe(true);
    b.failed(b.round, 'again');
    expect(b.state()).toMatchObject({ failures: 2, nextTryAt: 3000 });
    expect(b.budget(0, 0)).toBe(0);
    clock.advance(2000);
    expect(b.budget(0, 0)).toBe(1); // one probe at a time while nothing runs
    expect(b.budget(0, 1)).toBe(0);
    expect(b.budget(1, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('forgives the first crash soon after ready, counts the next, and ignores a crash after a long run', () => {
    const clock = new ManualClock(0);
    const b = new CrashBackoff(clock, { stableMs: 60_000 });
    expect(b.crashed(b.round, 2000, 'exited with code 1')).toBe(false);
    expect(b.failing).toBe(false);
    expect(b.crashed(b.round, 2000, 'exited with code 1')).toBe(true);
    expect(b.state()).toMatchObject({ failures: 1, nextTryAt: 1000 });
    expect(b.crashed(b.round, 60_000, 'exited with code 0')).toBe(false);
    expect(b.state()?.failures).toBe(1);
  });

  it('is healthy again once an instance has been up stableMs with no failure for as long', () => {
    const clock = new ManualClock(0);
    const b = new CrashBackoff(clock, { stableMs: 60_000 });
    b.failed(b.round, 'x');
    clock.advance(30_000);
    b.settle(60_000); // up long enough, but the failure is recent
    expect(b.failing).toBe(true);
    clock.advance(30_000);
    b.settle(59_999);
    expect(b.failing).toBe(true);
    b.settle(60_000);
    expect(b.failing).toBe(false);
    expect(b.state()).toBeNull();
  });
});

let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

async function rejection(p: Promise<unknown>): Promise<StratusError> {
  const err = await p.then(() => null, (e: unknown) => e);
  if (!(err instanceof StratusError)) throw new Error(`expected a StratusError, got ${String(err)}`);
  return err;
}

const functionStarts = (x: Harness) => x.backend.starts.filter((s) => s.role === 'function').length;

describe('scheduler with crash-loop backoff', () => {
  it('5 calls in 30 s to a version that cannot start make fewer than 10 starts, and it shows failing', async () => {
    h = harness();
    h.policy.desired = 1; // an autoscaler that would keep one instance warm: it must not for a failing version
    const v = version('broken');
    h.backend.failStarts = 1000;
    const answers: StratusError[] = [];
    for (let second = 0; second < 30; second++) {
      if (second % 6 === 0) answers.push(await rejection(h.scheduler.acquire(v, within(h))));
      h.clock.advance(1000);
      h.scheduler.tick();
      await new Promise((r) => setImmediate(r));
    }
    expect(answers).toHaveLength(5);
    expect(functionStarts(h)).toBeLessThan(10);
    for (const a of answers) {
      expect(['INSTANCE_START_FAILED', 'FUNCTION_UNAVAILABLE']).toContain(a.code);
      expect(a.message).toMatch(/see GET \/v1\/functions\/broken\/logs$/);
      expect(a.details.logs).toBe('/v1/functions/broken/logs');
    }
    const failing = h.scheduler.failing('broken');
    expect(failing).toMatchObject({ version: 1, lastError: expect.stringMatching(/^fake start of broken-\S+ failed$/) });
    // Calls at 0, 6, 12, 18 s each found the backoff over and tried once (waits 1, 2, 4, then 8 s); the
    // call at 24 s fell within the 8 s and was answered at once.
    expect(answers.map((a) => a.code)).toEqual(['INSTANCE_START_FAILED', 'INSTANCE_START_FAILED', 'INSTANCE_START_FAILED', 'INSTANCE_START_FAILED', 'FUNCTION_UNAVAILABLE']);
    expect(functionStarts(h)).toBe(4);
    expect(failing!.failures).toBe(4);
    expect(Date.parse(failing!.nextTryAt) - Date.parse(failing!.lastFailureAt)).toBe(8000);
  });

  it('answers a call within the backoff at once with 503 and Retry-After, starting nothing', async () => {
    h = harness();
    const v = version('broken');
    h.backend.failStarts = 1000;
    expect((await rejection(h.scheduler.acquire(v, within(h)))).code).toBe('INSTANCE_START_FAILED');
    const starts = functionStarts(h);
    h.clock.advance(400);
    const fast = await rejection(h.scheduler.acquire(v, within(h)));
    expect(fast.code).toBe('FUNCTION_UNAVAILABLE');
    expect(fast.status).toBe(503);
    expect(fast.message).toMatch(/^function broken is failing: its last start failed \(fake start .* failed\); the next try is in 1 s; see GET \/v1\/functions\/broken\/logs$/);
    expect(fast.details).toMatchObject({ retryAfterSeconds: 1, failures: 1, nextTryAt: new Date(h.clock.now() + 600).toISOString() });
    expect(functionStarts(h)).toBe(starts);
  });

  it('with minInstances, retries on the tick at 1 s, 2 s, 4 s … rather than every tick', async () => {
    h = harness();
    const v = version('warm-broken', 1, { minInstances: 1 });
    h.backend.failStarts = 1000;
    await h.scheduler.prewarm(v);
    const startedAt: number[] = [];
    let seen = 0;
    for (let ms = 0; ms <= 30_000; ms += 250) {
      await vi.waitFor(() => expect(h.backend.starts.length).toBeGreaterThanOrEqual(seen));
      await new Promise((r) => setImmediate(r));
      while (seen < h.backend.starts.length) {
        startedAt.push(ms);
        seen++;
      }
      h.clock.advance(250);
      h.scheduler.tick();
    }
    // Failures at about 0, 1, 3, 7, 15 s: each next try waits twice as long (the tick rounds up to 250 ms).
    const gaps = startedAt.slice(1).map((t, i) => t - startedAt[i]!);
    expect(startedAt.length).toBeLessThanOrEqual(6);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThanOrEqual(2 * gaps[i - 1]! - 250);
  });

  it('an instance crashing soon after ready: replaced at once the first time, with backoff the next; healthy again after a long run', async () => {
    h = harness();
    const v = version('flaky', 1, { minInstances: 1 });
    await h.scheduler.prewarm(v);
    await vi.waitFor(() => expect(h.scheduler.instances('flaky')).toHaveLength(1));
    h.clock.advance(2000);
    await h.backend.kill(h.scheduler.instances('flaky')[0]!.id, 'exited');
    await vi.waitFor(() => expect(h.scheduler.instances('flaky')).toHaveLength(1)); // forgiven: replaced at once
    expect(h.scheduler.failing('flaky')).toBeNull();
    h.clock.advance(2000);
    await h.backend.kill(h.scheduler.instances('flaky')[0]!.id, 'exited');
    await vi.waitFor(() => expect(h.scheduler.instances('flaky')).toHaveLength(0));
    expect(h.scheduler.failing('flaky')).toMatchObject({ failures: 1, lastError: 'an instance exited with code 1 soon after it became ready' });
    expect((await rejection(h.scheduler.acquire(v, within(h)))).code).toBe('FUNCTION_UNAVAILABLE');
    h.scheduler.tick();
    expect(h.scheduler.instances('flaky')).toHaveLength(0);
    h.clock.advance(1000);
    h.scheduler.tick(); // the backoff is over and minInstances asks
    await vi.waitFor(() => expect(h.scheduler.instances('flaky')).toHaveLength(1));
    h.clock.advance(60_000);
    h.scheduler.tick();
    expect(h.scheduler.failing('flaky')).toBeNull();
  });

  it('crashes a request caused are not a crash loop: each call after one gets a new instance', async () => {
    h = harness();
    const v = version('fragile');
    for (let i = 0; i < 3; i++) {
      const lease = await h.scheduler.acquire(v, within(h));
      expect(lease.start).toBe('container');
      await h.backend.kill(lease.instance.instanceId, i === 1 ? 'oom' : 'exited'); // it dies with the request on it
      lease.release('crashed');
      await vi.waitFor(() => expect(h.scheduler.instances('fragile')).toHaveLength(0));
      h.clock.advance(100);
    }
    expect(h.scheduler.failing('fragile')).toBeNull();
  });

  it('a new version starts without the old one\'s backoff', async () => {
    h = harness();
    h.backend.failStarts = 1;
    expect((await rejection(h.scheduler.acquire(version('fixed', 1), within(h)))).code).toBe('INSTANCE_START_FAILED');
    await h.scheduler.retire('fixed', 2);
    const lease = await h.scheduler.acquire(version('fixed', 2), within(h));
    expect(lease.start).toBe('container');
    expect(h.scheduler.failing('fixed')).toBeNull();
    lease.release('ok');
  });
});
