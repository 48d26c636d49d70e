// Metering in the Store seam (core/store/usage.ts), one suite against both stores: MemoryStore always,
// RedisStore on real Redis (skipped outside CI when Redis is not running, failing in CI). Usage is added
// up in the records' own write, exactly, once per record and attempt, and outlives the function.

import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../core/store/memory.js';
import { RedisStore } from '../../core/store/redis.js';
import type { Store } from '../../core/store/store.js';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { DAY_MS, HOUR_MS, type UsageRow } from '../../core/store/usage.js';
import { REDIS_URL, missing } from '../support/services.js';
import { storePerTest } from '../support/store-per-test.js';
import { removeRedisKeys } from '../support/stratus-process.js';

/** Three whole hours ago: the hours of this suite, well inside every retention. */
const H0 = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 3 * HOUR_MS;
const at = (hour: number, minute: number) => new Date(H0 + hour * HOUR_MS + minute * 60_000).toISOString();

const record = (id: string, start: string, over: Partial<InvocationRecord> = {}): InvocationRecord => ({
  id, function: 'hello', version: 1, trigger: 'http', start, durationMs: 50.2, statusCode: 200, outcome: 'succeeded', billedMs: 51, memoryMb: 128, ...over,
});
const RETAIN = { maxPerFunction: 1000, maxAgeMs: 7 * DAY_MS, usageMaxAgeMs: 30 * DAY_MS };
const ALL = { fromMs: H0 - DAY_MS, toMs: H0 + DAY_MS };
const row = (fn: string, hour: number, requests: number, failed: number, mbMs: number): UsageRow => ({ function: fn, hour: H0 + hour * HOUR_MS, requests, failed, mbMs: BigInt(mbMs) });

function contract(makeStore: () => Promise<Store>, cleanup?: () => Promise<void>) {
  const current = storePerTest(makeStore, cleanup);
  let store: Store;
  beforeEach(() => {
    store = current();
  });

  it('meters every record into its function and UTC hour: requests, failed, exact MB·ms', async () => {
    await store.appendInvocations([
      record('a', at(0, 5)),
      record('b', at(0, 59), { outcome: 'failed', statusCode: 504, billedMs: 1000, memoryMb: 256, error: 'FUNCTION_TIMEOUT' }),
      record('c', at(1, 0), { billedMs: 1, memoryMb: 10240 }),
      record('x', at(1, 30), { function: 'other', trigger: 'async', attempt: 1 }),
    ], RETAIN);
    // A whole batch of one hour in a second write adds up with the first.
    await store.appendInvocations([record('d', at(0, 30), { billedMs: 7 })], RETAIN);
    expect(await store.readUsage(ALL)).toEqual([
      row('hello', 0, 3, 1, 51 * 128 + 1000 * 256 + 7 * 128),
      row('hello', 1, 1, 0, 10240),
      row('other', 1, 1, 0, 51 * 128),
    ]);
    expect(await store.readUsage({ ...ALL, function: 'other' })).toEqual([row('other', 1, 1, 0, 51 * 128)]);
    // From and to pick whole hours: [from, to).
    expect(await store.readUsage({ fromMs: H0 + HOUR_MS, toMs: H0 + 2 * HOUR_MS })).toEqual([row('hello', 1, 1, 0, 10240), row('other', 1, 1, 0, 51 * 128)]);
    expect(await store.readUsage({ fromMs: H0, toMs: H0 + HOUR_MS, function: 'other' })).toEqual([]);
    expect(await store.readUsage({ ...ALL, function: 'nobody' })).toEqual([]);
  });

  it('bills a record written again once, and every attempt of an async invocation', async () => {
    const first = record('job', at(0, 1), { trigger: 'async', attempt: 1, outcome: 'failed', statusCode: 500 });
    await store.appendInvocations([first, record('sync', at(0, 2))], RETAIN);
    // The writer's retry of a batch that went through before the connection broke: nothing more.
    await store.appendInvocations([first, record('sync', at(0, 2))], RETAIN);
    expect(await store.readUsage(ALL)).toEqual([row('hello', 0, 2, 1, 2 * 51 * 128)]);
    // The second attempt replaces the record, and is billed: it ran.
    await store.appendInvocations([record('job', at(0, 3), { trigger: 'async', attempt: 2, billedMs: 20 })], RETAIN);
    // The same attempt run again after a takeover starts later: it ran twice, billed twice.
    await store.appendInvocations([record('job', at(0, 4), { trigger: 'async', attempt: 2, billedMs: 20 })], RETAIN);
    expect(await store.readUsage(ALL)).toEqual([row('hello', 0, 4, 1, 2 * 51 * 128 + 2 * 20 * 128)]);
    expect((await store.listInvocations('hello')).map((r) => r.id).sort()).toEqual(['job', 'sync']);
  });

  it('keeps the usage of a deleted function (a bill does not forget it) and of a name created again', async () => {
    await store.putFunction({ name: 'gone', config: { name: 'gone', runtime: 'node', memoryMb: 128, timeoutMs: 1000, env: {}, concurrency: 1, minInstances: 0, maxInstances: 1, idleTtlMs: 60_000 }, currentVersion: null, latestVersion: 1, createdAt: 't0', updatedAt: 't0' });
    await store.appendInvocations([record('g1', at(2, 0), { function: 'gone' })], RETAIN);
    await store.deleteFunction('gone');
    expect(await store.listInvocations('gone')).toEqual([]);
    await store.appendInvocations([record('g2', at(2, 1), { function: 'gone' })], RETAIN);
    expect(await store.readUsage({ ...ALL, function: 'gone' })).toEqual([row('gone', 2, 2, 0, 2 * 51 * 128)]);
  });

  it('drops usage past its retention, counted by whole UTC days', async () => {
    const old = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - 3 * DAY_MS + HOUR_MS).toISOString();
    await store.appendInvocations([record('old', old), record('new', at(0, 0))], { ...RETAIN, usageMaxAgeMs: DAY_MS });
    expect(await store.readUsage({ fromMs: Date.parse(old) - DAY_MS, toMs: H0 + DAY_MS })).toEqual([row('hello', 0, 1, 0, 51 * 128)]);
  });

  it('adds integers beyond what a float holds exactly', async () => {
    // Two records of 2^52 MB·ms (2^32 ms × 2^20 MB) and one of 1: a double would end at 2^53, not 2^53 + 1.
    const records = [
      record('p1', at(0, 1), { billedMs: 2 ** 32, memoryMb: 2 ** 20 }),
      record('p2', at(0, 2), { billedMs: 2 ** 32, memoryMb: 2 ** 20 }),
      record('p3', at(0, 3), { billedMs: 1, memoryMb: 1 }),
    ];
    await store.appendInvocations(records, RETAIN);
    expect((await store.readUsage(ALL))[0]!.mbMs).toBe(2n ** 53n + 1n);
  });
}

describe('usage contract: MemoryStore', () => {
  contract(async () => new MemoryStore());
});

describe.skipIf(await missing('redis'))('usage contract: RedisStore', () => {
  const prefix = `stratus-test-${randomUUID()}:`;
  contract(async () => new RedisStore(REDIS_URL, { prefix }), () => removeRedisKeys(REDIS_URL, prefix));
});
