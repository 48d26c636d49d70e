// BullAsyncQueue on real Redis: two platforms (two key prefixes) on one Redis never see each other's
// jobs, a job added twice under one id runs once, idempotency keys hold for their window, and a worker
// stopped without finishing its job (as a killed process would) has the job taken over by another.

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { AttemptFailed, BullAsyncQueue, type AsyncJob, type AsyncView } from '../../control/invocations/async-queue.js';
import { REDIS_URL, missing } from '../support/services.js';

const job = (id: string, fn = 'f'): AsyncJob => ({ id, function: fn, event: { type: 't', source: `/functions/${fn}`, data: null }, requestedAt: new Date().toISOString() });
const ok = { statusCode: 200, contentType: null, body: 'done', truncated: false };

describe.skipIf(await missing('redis'))('BullAsyncQueue (Redis)', () => {
  const run = randomUUID().slice(0, 8);
  const queues: BullAsyncQueue[] = [];
  const make = (prefix: string, lockMs = 30_000) => {
    const q = new BullAsyncQueue({ redisUrl: REDIS_URL, prefix, concurrency: 2, lockMs, keepMs: 60_000, logger: silentLogger });
    queues.push(q);
    return q;
  };
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.close();
    const admin = new Redis(REDIS_URL);
    const keys = await admin.keys(`test-bull-${run}-*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  const until = async (q: BullAsyncQueue, id: string, status: string, ms = 30_000): Promise<AsyncView | null> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await q.get(id);
      if (v?.status === status || Date.now() > deadline) return v;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('keeps two platforms\' queues apart and runs a job added twice once', async () => {
    const a = make(`test-bull-${run}-a:`);
    const b = make(`test-bull-${run}-b:`);
    const ranOnB: string[] = [];
    b.start(async (j) => (ranOnB.push(j.id), ok));
    let runsOnA = 0;
    await a.enqueue(job('j1'), { maxAttempts: 1, backoffMs: 0 });
    await a.enqueue(job('j1'), { maxAttempts: 1, backoffMs: 0 });
    expect(await b.get('j1')).toBeNull();
    a.start(async () => (runsOnA++, ok));
    expect(await until(a, 'j1', 'succeeded')).toMatchObject({ status: 'succeeded', attempts: 1, result: ok });
    await a.enqueue(job('j1'), { maxAttempts: 1, backoffMs: 0 }); // after completion too
    await new Promise((r) => setTimeout(r, 300));
    expect(runsOnA).toBe(1);
    expect(ranOnB).toEqual([]);
    expect(await a.claimIdempotencyKey('f', 'k', 'x1', 60_000)).toBe('x1');
    expect(await a.claimIdempotencyKey('f', 'k', 'x2', 60_000)).toBe('x1');
    expect(await b.claimIdempotencyKey('f', 'k', 'y1', 60_000)).toBe('y1');
  });

  it('retries with backoff, shows a failed attempt awaiting its retry, and replays all of a function\'s dead letters', async () => {
    const q = make(`test-bull-${run}-d:`);
    let fixed = false;
    q.start(async (j) => {
      if (!fixed) throw new AttemptFailed('FUNCTION_ERROR', `${j.id} failed`);
      return ok;
    });
    await q.enqueue(job('slow-retry'), { maxAttempts: 2, backoffMs: 60_000 });
    expect(await until(q, 'slow-retry', 'failed')).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'FUNCTION_ERROR', message: 'slow-retry failed' } });
    await q.enqueue(job('d1'), { maxAttempts: 2, backoffMs: 10 });
    await q.enqueue(job('d2'), { maxAttempts: 2, backoffMs: 10 });
    await q.enqueue(job('other', 'g'), { maxAttempts: 1, backoffMs: 0 });
    expect(await until(q, 'd1', 'dead')).toMatchObject({ attempts: 2 });
    expect(await until(q, 'd2', 'dead')).toMatchObject({ attempts: 2 });
    expect(await until(q, 'other', 'dead')).toMatchObject({ attempts: 1 });
    expect((await q.deadLetters('f')).map((v) => v.id).sort()).toEqual(['d1', 'd2']);
    fixed = true;
    expect((await q.replay('f')).sort()).toEqual(['d1', 'd2']);
    expect(await until(q, 'd1', 'succeeded')).toMatchObject({ attempts: 1, result: ok });
    expect(await until(q, 'd2', 'succeeded')).toMatchObject({ attempts: 1, result: ok });
    expect((await q.get('other'))!.status).toBe('dead');
  });

  it('a job whose worker stopped without finishing it is taken over by another worker', async () => {
    const prefix = `test-bull-${run}-c:`;
    const first = make(prefix, 1000);
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    // The first worker's attempt never ends: it stands for a process killed mid-call.
    first.start(() => {
      started();
      return new Promise(() => {});
    });
    await first.enqueue(job('stuck'), { maxAttempts: 1, backoffMs: 0 });
    await running;
    await first.abandon();
    const second = make(prefix, 1000);
    second.start(async () => ok);
    expect(await until(second, 'stuck', 'succeeded')).toMatchObject({ status: 'succeeded', result: ok });
  });
});
