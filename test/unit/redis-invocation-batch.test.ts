// The Redis store's batch write of invocation records (core/store/redis-invocations.ts): one Lua script
// per batch that stores the records, indexes and trims them per function, and meters them per function
// and hour. The store contracts check the behaviour both stores share; this checks what the script adds:
// batches larger than a group, several functions and hours in one batch, the keys' expiries, and a
// Redis that lost its script cache (a restart) — on real Redis.

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../core/store/redis.js';
import { GROUP_MAX_RECORDS, groups } from '../../core/store/redis-invocations.js';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { DAY_MS, HOUR_MS } from '../../core/store/usage.js';
import { freePort, RedisServer, redisServerMissing } from '../support/redis-server.js';
import { REDIS_URL, missing } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';

/** Two whole hours ago: well inside every retention. */
const H0 = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 2 * HOUR_MS;
const at = (hour: number, ms: number) => new Date(H0 + hour * HOUR_MS + ms).toISOString();
const record = (id: string, start: string, over: Partial<InvocationRecord> = {}): InvocationRecord => ({
  id, function: 'hello', version: 1, trigger: 'http', start, durationMs: 2.5, statusCode: 200, outcome: 'succeeded', billedMs: 3, memoryMb: 128, ...over,
});
const RETAIN = { maxPerFunction: 1000, maxAgeMs: 7 * DAY_MS, usageMaxAgeMs: 30 * DAY_MS };

describe('the batch in groups', () => {
  it('groups by function and hour, in the order they first came, and splits a group at its record bound', () => {
    const many = Array.from({ length: GROUP_MAX_RECORDS + 1 }, (_, i) => record(`h${i}`, at(0, i)));
    const batch = [record('o1', at(0, 0), { function: 'other' }), ...many, record('next-hour', at(1, 0)), record('o2', at(0, 5), { function: 'other' })];
    const gs = groups(batch);
    expect(gs.map((g) => [g.fn, g.hour - H0, g.records.length])).toEqual([
      ['other', 0, 2],
      ['hello', 0, GROUP_MAX_RECORDS],
      ['hello', 0, 1],
      ['hello', HOUR_MS, 1],
    ]);
    expect(gs[0]!.records.map((r) => r.id)).toEqual(['o1', 'o2']);
  });

  it('keeps a group\'s MB·ms within what the script sums exactly (2^53 - 1)', () => {
    const big = { billedMs: 2 ** 32, memoryMb: 2 ** 20 }; // 2^52 MB·ms each
    const gs = groups([record('a', at(0, 1), big), record('b', at(0, 2), big), record('c', at(0, 3))]);
    expect(gs.map((g) => g.records.map((r) => r.id))).toEqual([['a'], ['b', 'c']]);
  });
});

describe.skipIf(await missing('redis'))('the batch script on Redis', () => {
  const prefix = `stratus-test-${randomUUID()}:`;
  let store: RedisStore;
  let redis: Redis;
  beforeAll(() => {
    store = new RedisStore(REDIS_URL, { prefix });
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await store.close();
    redis.disconnect();
    await removeRedisKeys(REDIS_URL, prefix);
  });

  it('stores, trims and meters a batch of several groups exactly, and a retried batch adds nothing', async () => {
    // 1200 records of hello in hour 0 (every tenth failed, memory varying), 3 in hour 1, 2 of other.
    const hello = Array.from({ length: 1200 }, (_, i) => record(`h${String(i).padStart(4, '0')}`, at(0, i), i % 10 === 0 ? { outcome: 'failed', statusCode: 500, billedMs: 7, memoryMb: 256 } : { billedMs: 1 + (i % 5) }));
    const later = [record('l1', at(1, 0)), record('l2', at(1, 1)), record('l3', at(1, 2))];
    const other = [record('o1', at(0, 0), { function: 'other', trigger: 'async', attempt: 1 }), record('o2', at(1, 0), { function: 'other' })];
    const batch = [...hello, ...other, ...later];
    const retain = { ...RETAIN, maxPerFunction: 1000 };
    await store.appendInvocations(batch, retain);
    await store.appendInvocations(batch, retain); // the writer's retry of a batch that went through

    const mbMs = (rs: InvocationRecord[]) => BigInt(rs.reduce((s, r) => s + r.billedMs * r.memoryMb, 0));
    const failed = (rs: InvocationRecord[]) => rs.filter((r) => r.outcome === 'failed').length;
    expect(await store.readUsage({ fromMs: H0, toMs: H0 + 2 * HOUR_MS })).toEqual([
      { function: 'hello', hour: H0, requests: 1200, failed: failed(hello), mbMs: mbMs(hello) },
      { function: 'hello', hour: H0 + HOUR_MS, requests: 3, failed: 0, mbMs: mbMs(later) },
      { function: 'other', hour: H0, requests: 1, failed: 0, mbMs: mbMs([other[0]!]) },
      { function: 'other', hour: H0 + HOUR_MS, requests: 1, failed: 0, mbMs: mbMs([other[1]!]) },
    ]);

    // The newest 1000 of hello's 1203 are indexed; the dashboard and the API read them through the index.
    const listed = await store.listInvocations('hello', { limit: 2000 });
    expect(listed).toHaveLength(1000);
    expect(listed.slice(0, 4).map((r) => r.id)).toEqual(['l3', 'l2', 'l1', 'h1199']);
    expect(listed.at(-1)!.id).toBe('h0203');
    expect(await store.getInvocation('h0010')).toEqual(hello[10]);
    expect((await store.listInvocations('other')).map((r) => r.id)).toEqual(['o2', 'o1']);

    // Every key the write made expires: records and index with the records' age, marks with their hour, usage with its day.
    const ttl = (key: string) => redis.pttl(`${prefix}${key}`);
    const day = new Date(H0).toISOString().slice(0, 10);
    const hh = new Date(H0).toISOString().slice(11, 13);
    for (const key of ['inv:h1199', 'invs-of:hello', 'invs-of:other', `billed:${day}T${hh}`, `usage:hello:${day}`, 'usage-fns']) expect(await ttl(key), key).toBeGreaterThan(0);
    expect(await ttl('inv:h1199')).toBeLessThanOrEqual(RETAIN.maxAgeMs);
    expect(await ttl(`usage:hello:${day}`)).toBeGreaterThan(RETAIN.maxAgeMs);
  });

  it('drops from the index what is older than the records\' age, in the same write', async () => {
    const retain = { ...RETAIN, maxAgeMs: 3 * HOUR_MS };
    await store.appendInvocations([record('old', at(-2, 0), { function: 'aged' }), record('new', at(1, 0), { function: 'aged' })], retain);
    expect((await store.listInvocations('aged')).map((r) => r.id)).toEqual(['new']);
  });
});

describe.skipIf(await redisServerMissing())('the batch script after Redis lost its scripts (own redis-server)', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = new RedisServer(await freePort());
    await server.start();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('is sent again in full and the batch is stored', async () => {
    const store = new RedisStore(server.url, { prefix: 'p:' });
    const admin = new Redis(server.url);
    try {
      await store.appendInvocations([record('a', at(0, 0))], RETAIN);
      await admin.script('FLUSH'); // what a restart or a failover does to Redis's script cache
      await store.appendInvocations([record('b', at(0, 1))], RETAIN);
      expect((await store.listInvocations('hello')).map((r) => r.id)).toEqual(['b', 'a']);
      expect((await store.readUsage({ fromMs: H0, toMs: H0 + HOUR_MS }))[0]!.requests).toBe(2);
    } finally {
      admin.disconnect();
      await store.close();
    }
  });
});
