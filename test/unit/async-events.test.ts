// The in-memory async queue (retries, dead letters, replay, deduplication by id, idempotency keys) and
// the batched invocation-record writer (one store write per batch, never one per call).

import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../core/store/memory.js';
import type { InvocationRecord, InvocationRetention } from '../../core/store/invocations.js';
import { AttemptFailed, type AsyncJob, type AsyncView } from '../../control/invocations/async-queue.js';
import { BatchedRecordWriter } from '../../control/invocations/invocation-records.js';
import { MemoryAsyncQueue } from '../../control/invocations/memory-queue.js';

const job = (id: string, fn = 'f'): AsyncJob => ({ id, function: fn, event: { type: 't', source: `/functions/${fn}`, data: { id } }, requestedAt: new Date().toISOString() });

async function until(q: MemoryAsyncQueue, id: string, statuses: string[]): Promise<AsyncView> {
  for (let i = 0; i < 500; i++) {
    const v = await q.get(id);
    if (v && statuses.includes(v.status)) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`${id} never reached ${statuses.join('/')}: ${JSON.stringify(await q.get(id))}`);
}

describe('MemoryAsyncQueue', () => {
  const queues: MemoryAsyncQueue[] = [];
  const make = () => {
    const q = new MemoryAsyncQueue({ concurrency: 2 });
    queues.push(q);
    return q;
  };
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.close();
  });

  it('retries a failing attempt with backoff until it succeeds, keeping the result', async () => {
    const q = make();
    const seen: number[] = [];
    q.start(async (_j, attempt) => {
      seen.push(attempt);
      if (attempt < 3) throw new AttemptFailed('FUNCTION_ERROR', 'not yet');
      return { statusCode: 200, contentType: 'application/json', body: '{"ok":true}', truncated: false };
    });
    await q.enqueue(job('a'), { maxAttempts: 3, backoffMs: 1 });
    const v = await until(q, 'a', ['succeeded', 'dead']);
    expect(v).toMatchObject({ status: 'succeeded', attempts: 3, result: { statusCode: 200, body: '{"ok":true}' }, error: null });
    expect(seen).toEqual([1, 2, 3]);
  });

  it('makes a job a dead letter after maxAttempts, and a replay gives it fresh attempts', async () => {
    const q = make();
    let fixed = false;
    q.start(async () => {
      if (!fixed) throw new AttemptFailed('FUNCTION_CRASHED', 'boom');
      return { statusCode: 202, contentType: null, body: '', truncated: false };
    });
    await q.enqueue(job('d'), { maxAttempts: 2, backoffMs: 1 });
    expect(await until(q, 'd', ['dead'])).toMatchObject({ attempts: 2, error: { code: 'FUNCTION_CRASHED', message: 'boom' } });
    expect((await q.deadLetters('f')).map((v) => v.id)).toEqual(['d']);
    expect(await q.deadLetters('other')).toEqual([]);
    expect(await q.replay('other', 'd')).toEqual([]);
    fixed = true;
    expect(await q.replay('f', 'd')).toEqual(['d']);
    expect(await until(q, 'd', ['succeeded'])).toMatchObject({ attempts: 1, result: { statusCode: 202 } });
    expect(await q.deadLetters('f')).toEqual([]);
  });

  it('runs a job enqueued twice with one id once', async () => {
    const q = make();
    let runs = 0;
    await q.enqueue(job('same'), { maxAttempts: 1, backoffMs: 0 });
    await q.enqueue(job('same'), { maxAttempts: 1, backoffMs: 0 });
    q.start(async () => {
      runs++;
      return { statusCode: 200, contentType: null, body: '', truncated: false };
    });
    await until(q, 'same', ['succeeded']);
    await new Promise((r) => setTimeout(r, 20));
    expect(runs).toBe(1);
  });

  it('an idempotency key answers the first id within its window, per function', async () => {
    const q = make();
    expect(await q.claimIdempotencyKey('f', 'k', 'id-1', 60_000)).toBe('id-1');
    expect(await q.claimIdempotencyKey('f', 'k', 'id-2', 60_000)).toBe('id-1');
    expect(await q.claimIdempotencyKey('g', 'k', 'id-3', 60_000)).toBe('id-3');
    expect(await q.claimIdempotencyKey('f', 'short', 'id-4', 1)).toBe('id-4');
    await new Promise((r) => setTimeout(r, 5));
    expect(await q.claimIdempotencyKey('f', 'short', 'id-5', 1)).toBe('id-5');
  });
});

describe('BatchedRecordWriter', () => {
  const rec = (i: number, fn = 'f'): InvocationRecord => ({
    id: `r${i}`, function: fn, version: 1, trigger: 'http', start: new Date(Date.now() + i).toISOString(), durationMs: 0.4, statusCode: 200, outcome: 'succeeded', billedMs: 1, memoryMb: 128,
  });

  it('writes many calls\' records in one store write per batch, not one per call', async () => {
    const store = new MemoryStore();
    const writes: number[] = [];
    const counting = { appendInvocations: (rs: InvocationRecord[], ret: InvocationRetention) => (writes.push(rs.length), store.appendInvocations(rs, ret)) };
    const w = new BatchedRecordWriter(counting, { flushMs: 10_000, maxBatch: 100 });
    for (let i = 0; i < 250; i++) w.record(rec(i, i % 2 ? 'f' : 'g'));
    await w.flush();
    expect(writes).toEqual([100, 100, 50]);
    expect(await store.listInvocations('f', { limit: 1000 })).toHaveLength(125);
    await w.close();
    w.record(rec(999));
    expect(writes).toEqual([100, 100, 50]);
  });

  it('writes on its timer without a flush, and counts what a failing store loses instead of throwing', async () => {
    const store = new MemoryStore();
    const w = new BatchedRecordWriter(store, { flushMs: 5 });
    w.record(rec(1));
    for (let i = 0; i < 100 && (await store.listInvocations('f')).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect((await store.listInvocations('f')).map((r) => r.id)).toEqual(['r1']);
    await w.close();

    // A store that never answers again: close() tries once more, then counts what it could not write.
    const broken = new BatchedRecordWriter({ appendInvocations: () => Promise.reject(new Error('down')) }, { flushMs: 5 });
    broken.record(rec(1));
    broken.record(rec(2));
    await broken.close();
    expect(broken.dropped).toBe(2);
  });

  it('keeps the records of a failed write and writes them when the store answers again (Redis restarting)', async () => {
    const store = new MemoryStore();
    let failing = 3;
    const tries: string[][] = [];
    const flaky = {
      appendInvocations: (rs: InvocationRecord[], ret: InvocationRetention) => {
        tries.push(rs.map((r) => r.id));
        return failing-- > 0 ? Promise.reject(new Error('connection lost')) : store.appendInvocations(rs, ret);
      },
    };
    const w = new BatchedRecordWriter(flaky, { flushMs: 2, maxRetryMs: 10 });
    w.record(rec(1));
    w.record(rec(2));
    // flush() returns once they are stored: after the failed tries, not after the first.
    await w.flush();
    expect((await store.listInvocations('f')).map((r) => r.id).sort()).toEqual(['r1', 'r2']);
    expect(tries.length).toBe(4);
    expect(tries.every((t) => t.join() === 'r1,r2')).toBe(true);
    // The timer path retries too, without a flush.
    failing = 1;
    w.record(rec(3));
    for (let i = 0; i < 200 && (await store.listInvocations('f')).length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    expect((await store.listInvocations('f')).map((r) => r.id)).toContain('r3');
    await w.close();
    expect(w.dropped).toBe(0);
  });
});
