// An Idempotency-Key whose invocation could not be queued is given back: a retry with the same key queues
// the invocation instead of answering with the id of one that never existed. Over the in-memory queue
// (the Redis one shares the rule: compare-and-delete, covered by the async integration suites).

import { describe, expect, it } from 'vitest';
import { AsyncInvocations } from '../../control/invocations/async-invocations.js';
import type { AsyncJob, AttemptPolicy } from '../../control/invocations/async-queue.js';
import { ADMIN, scopedIdempotencyKey } from '../../control/invocations/idempotency.js';
import type { Invoker } from '../../control/invocations/invoker.js';
import { MemoryAsyncQueue } from '../../control/invocations/memory-queue.js';
import type { DeployedVersion } from '../../core/types.js';

class FlakyQueue extends MemoryAsyncQueue {
  failNext = true;
  override async enqueue(job: AsyncJob, policy: AttemptPolicy): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('Redis is away');
    }
    return super.enqueue(job, policy);
  }
}

const target = { function: 'hello', version: 1, config: { timeoutMs: 1000 } } as unknown as DeployedVersion;

describe('idempotency keys and a failed enqueue', () => {
  it('gives the key back, so the retry queues the invocation', async () => {
    const queue = new FlakyQueue({ concurrency: 1 });
    const key = scopedIdempotencyKey(ADMIN, 'order-42');
    const intake = new AsyncInvocations({ queue, invoker: {} as Invoker, resolve: async () => target, idempotencyWindowMs: 60_000 });
    await expect(intake.submit('hello', { n: 1 }, { idempotencyKey: key })).rejects.toThrow('Redis is away');
    const retry = await intake.submit('hello', { n: 1 }, { idempotencyKey: key });
    expect(retry.duplicate).toBe(false);
    expect(await queue.get(retry.id)).toMatchObject({ id: retry.id, status: 'queued', trigger: 'async' });
    const again = await intake.submit('hello', { n: 1 }, { idempotencyKey: key });
    expect(again).toMatchObject({ id: retry.id, duplicate: true });
    await queue.close();
  });
});
