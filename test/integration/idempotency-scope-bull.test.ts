// Scoped Idempotency-Keys (control/invocations/idempotency.ts) over BullMQ on real Redis: the same contract as
// the in-memory queue's (test/support/idempotency-scope-contract.ts), and the scope in the Redis key itself.

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { BullAsyncQueue } from '../../control/invocations/async-queue.js';
import { ANONYMOUS, scopedIdempotencyKey } from '../../control/invocations/idempotency.js';
import { idempotencyScopeContract } from '../support/idempotency-scope-contract.js';
import { REDIS_URL, missing } from '../support/services.js';

describe.skipIf(await missing('redis'))('scoped idempotency keys over BullMQ (Redis)', () => {
  const run = `test-idem-${randomUUID().slice(0, 8)}`;
  let n = 0;
  const make = async () => new BullAsyncQueue({ redisUrl: REDIS_URL, prefix: `${run}-${n++}:`, concurrency: 2, lockMs: 30_000, keepMs: 60_000, logger: silentLogger });
  afterAll(async () => {
    const admin = new Redis(REDIS_URL);
    const keys = await admin.keys(`${run}-*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  idempotencyScopeContract(make);

  it('stores the key under its sender\'s scope, with the window as its expiry', async () => {
    const q = await make();
    const redis = new Redis(REDIS_URL);
    try {
      const prefix = `${run}-${n - 1}:`;
      expect(await q.claimIdempotencyKey('hello', scopedIdempotencyKey(ANONYMOUS, 'order-42'), 'id-1', 60_000)).toBe('id-1');
      expect(await redis.get(`${prefix}idempotency:hello:anon:order-42`)).toBe('id-1');
      expect(await redis.get(`${prefix}idempotency:hello:order-42`)).toBeNull();
      const ttl = await redis.pttl(`${prefix}idempotency:hello:anon:order-42`);
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      await redis.quit();
      await q.close();
    }
  });
});
