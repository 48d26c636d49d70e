// GET /v1/usage over the gateway harness (fake builder and scheduler, a programmable instance, the
// in-memory queue, a record writer on the MemoryStore with the real metrics registry): calls billed from
// their records, hour and day buckets, exact decimals and cost, the range it answers, each refusal with
// the field it names; and the writer's billed-usage counters, counted once when a write is retried.

import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { MetricsRegistry } from '../../core/metrics.js';
import { createPlatformMetrics, type PlatformMetrics } from '../../core/platform-metrics.js';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { MemoryStore } from '../../core/store/memory.js';
import { DAY_MS, HOUR_MS } from '../../core/store/usage.js';
import { BatchedRecordWriter } from '../../control/invocations/invocation-records.js';
import { MemoryAsyncQueue } from '../../control/invocations/memory-queue.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';
import { until } from '../support/until.js';

const PRICES = { STRATUS_PRICE_PER_GB_SECOND: '0.0000166667', STRATUS_PRICE_PER_MILLION_REQUESTS: '0.20' };

describe('usage API', () => {
  let h: Harness | undefined;
  let records: BatchedRecordWriter | undefined;
  let queue: MemoryAsyncQueue | undefined;
  afterEach(async () => {
    await queue?.close();
    await records?.close();
    await h?.close();
    h = records = queue = undefined;
  });

  /** A harness whose record writer counts into a real registry, and a function "hello" of 128 MB deployed. */
  async function start(env: Record<string, string> = {}): Promise<{ h: Harness; metrics: PlatformMetrics }> {
    const metrics = createPlatformMetrics(new MetricsRegistry());
    const made: { store?: MemoryStore } = {};
    records = new BatchedRecordWriter({ appendInvocations: (rs, ret) => made.store!.appendInvocations(rs, ret) }, { flushMs: 10, metrics });
    queue = new MemoryAsyncQueue({ concurrency: 2 });
    h = await startHarness(env, { records, asyncQueue: queue });
    made.store = h.store;
    queue.start(h.app.asyncInvocations.process);
    h.instance.handle = (req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => res.writeHead(req.url === '/fail' ? 500 : 200).end('{}'), 5));
    };
    const up = await request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name: 'hello', runtime: 'node', memoryMb: 128 })).attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
    await h.builder.succeed(up.body.buildId);
    return { h, metrics };
  }

  const usage = async (query: string) => {
    const res = await request(h!.app).get(`/v1/usage${query}`).set(auth);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };

  it('bills every call, sync and async, as Σ billedMs × memoryMb of its records, and counts it on the metrics', async () => {
    const { h, metrics } = await start();
    for (const path of ['/', '/', '/fail', '/x']) await request(h.app).get(`/fn/hello${path}`);
    for (let i = 0; i < 3; i++) expect((await request(h.app).post('/v1/functions/hello/invocations').set(auth).send({ i })).status).toBe(202);
    // The async calls' records arrive as the queue runs them.
    await until('7 records', async () => {
      await records!.flush();
      return (await h.store.listInvocations('hello')).length === 7 ? true : undefined;
    });
    const kept = await h.store.listInvocations('hello');
    const mbMs = kept.reduce((s, r) => s + r.billedMs * 128, 0);
    const body = await usage('?function=hello');
    expect(body.functions).toHaveLength(1);
    expect(body.functions[0].total).toMatchObject({ requests: 7, failed: 1, mbMs });
    expect(body.functions[0].total.gbSeconds).toMatch(/^\d+(\.\d{1,13})?$/);
    expect(Number(body.functions[0].total.gbSeconds)).toBe(mbMs / 1_024_000);
    expect(body.total).toEqual(body.functions[0].total);
    expect(body.functions[0].buckets.reduce((s: number, b: { mbMs: number }) => s + b.mbMs, 0)).toBe(mbMs);
    expect(body.price).toBeNull();
    expect(body.total.cost).toBeUndefined();
    expect(metrics.billedRequests.get({ function: 'hello' })).toBe(7);
    expect(metrics.billedGbSeconds.get({ function: 'hello' })).toBeCloseTo(mbMs / 1_024_000, 12);
  });

  describe('buckets, totals and cost from known records', () => {
    // Yesterday 10:00 and 11:00 UTC: one day, two hours, inside every retention.
    const X = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS + 10 * HOUR_MS;
    const iso = (ms: number) => new Date(ms).toISOString();
    const rec = (id: string, fn: string, startMs: number, billedMs: number, memoryMb: number, failed = false): InvocationRecord => ({
      id, function: fn, version: 1, trigger: 'http', start: iso(startMs), durationMs: billedMs - 0.5, statusCode: failed ? 500 : 200, outcome: failed ? 'failed' : 'succeeded', billedMs, memoryMb,
    });
    const seed = (store: MemoryStore) => store.appendInvocations([
      rec('a1', 'hello', X + 300_000, 51, 128), rec('a2', 'hello', X + 600_000, 51, 128), rec('b', 'hello', X + HOUR_MS + 60_000, 1000, 256, true), rec('o', 'other', X + 120_000, 51, 128),
    ], { maxPerFunction: 100, maxAgeMs: 7 * DAY_MS });
    const range = `from=${iso(X)}&to=${iso(X + 2 * HOUR_MS)}`;

    it('answers hour buckets per function with exact GB-seconds and cost rounded half up to 9 decimals', async () => {
      const { h } = await start(PRICES);
      await seed(h.store);
      const cost = (compute: string, requests: string, total: string) => ({ compute, requests, total });
      expect(await usage(`?${range}&granularity=hour`)).toEqual({
        granularity: 'hour', from: iso(X), to: iso(X + 2 * HOUR_MS),
        price: { perGbSecond: '0.0000166667', perMillionRequests: '0.20', costDecimals: 9 },
        functions: [
          {
            function: 'hello',
            buckets: [
              // 2 × 51 ms × 128 MB = 13,056 MB·ms = 0.01275 GB-s; × 0.0000166667 = 0.0000002125004… → 213 nanos.
              { start: iso(X), requests: 2, failed: 0, mbMs: 13_056, gbSeconds: '0.01275', cost: cost('0.000000213', '0.0000004', '0.000000613') },
              { start: iso(X + HOUR_MS), requests: 1, failed: 1, mbMs: 256_000, gbSeconds: '0.25', cost: cost('0.000004167', '0.0000002', '0.000004367') },
            ],
            total: { requests: 3, failed: 1, mbMs: 269_056, gbSeconds: '0.26275', cost: cost('0.000004379', '0.0000006', '0.000004979') },
          },
          {
            function: 'other',
            buckets: [{ start: iso(X), requests: 1, failed: 0, mbMs: 6528, gbSeconds: '0.006375', cost: cost('0.000000106', '0.0000002', '0.000000306') }],
            total: { requests: 1, failed: 0, mbMs: 6528, gbSeconds: '0.006375', cost: cost('0.000000106', '0.0000002', '0.000000306') },
          },
        ],
        total: { requests: 4, failed: 1, mbMs: 275_584, gbSeconds: '0.269125', cost: cost('0.000004485', '0.0000008', '0.000005285') },
      });
    });

    it('answers UTC days, one function, a deleted function, and a range widened to whole buckets', async () => {
      const { h } = await start();
      await seed(h.store);
      const day = Math.floor(X / DAY_MS) * DAY_MS;
      // from and to inside the day: widened to the whole day.
      const body = await usage(`?function=hello&granularity=day&from=${iso(X + 1000)}&to=${iso(X + 2000)}`);
      expect(body).toMatchObject({ granularity: 'day', from: iso(day), to: iso(day + DAY_MS) });
      expect(body.functions).toEqual([{ function: 'hello', buckets: [{ start: iso(day), requests: 3, failed: 1, mbMs: 269_056, gbSeconds: '0.26275' }], total: { requests: 3, failed: 1, mbMs: 269_056, gbSeconds: '0.26275' } }]);
      // Deleting the function leaves its bill; a name never used has none (not a 404: usage outlives functions).
      expect((await request(h.app).delete('/v1/functions/hello').set(auth)).status).toBe(204);
      expect((await usage(`?function=hello&${range}`)).total.mbMs).toBe(269_056);
      expect(await usage(`?function=nobody&${range}`)).toMatchObject({ functions: [], total: { requests: 0, failed: 0, mbMs: 0, gbSeconds: '0' } });
    });
  });

  it('answers the last day by default and never reads before the retention or past the current hour', async () => {
    await start({ STRATUS_USAGE_MAX_AGE_DAYS: '2' });
    const hour = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS;
    // The clock may pass an hour during the call: either hour's answer is right.
    const around = async (query: string) => {
      const t0 = Date.now();
      const body = await usage(query);
      return { body, hours: [hour(t0), hour(Date.now())] };
    };
    const last = await around('');
    expect(last.body.granularity).toBe('hour');
    // The current hour included; from 24 hours before, widened to its hour.
    expect(last.hours.map((h) => h + HOUR_MS)).toContain(Date.parse(last.body.to));
    expect(Date.parse(last.body.to) - Date.parse(last.body.from)).toBe(25 * HOUR_MS);
    const wide = await around('?from=2001-01-01T00:00:00Z&to=2999-01-01T00:00:00Z');
    expect(wide.hours.map((h) => h + HOUR_MS)).toContain(Date.parse(wide.body.to));
    expect(wide.hours.map((h) => h - 2 * DAY_MS)).toContain(Date.parse(wide.body.from));
    // Wholly before the retention: an empty range there.
    const old = await usage('?from=2001-01-01T00:00:00Z&to=2001-02-01T00:00:00Z');
    expect(old.from).toBe(old.to);
  });

  it('takes prices and the retention only as plain decimals and whole days', () => {
    expect(loadConfig({ ...PRICES }).usage).toEqual({ maxAgeMs: 400 * DAY_MS, price: { perGbSecond: '0.0000166667', perMillionRequests: '0.20' } });
    expect(loadConfig({ STRATUS_PRICE_PER_MILLION_REQUESTS: '0.2' }).usage.price).toEqual({ perGbSecond: '0', perMillionRequests: '0.2' });
    expect(loadConfig({}).usage.price).toBeNull();
    for (const [name, value] of [['STRATUS_PRICE_PER_GB_SECOND', '1.6e-5'], ['STRATUS_PRICE_PER_GB_SECOND', '-1'], ['STRATUS_PRICE_PER_MILLION_REQUESTS', '0.2 USD'], ['STRATUS_USAGE_MAX_AGE_DAYS', '0']] as const) {
      expect(() => loadConfig({ [name]: value }), `${name}=${value}`).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', details: { field: name } }));
    }
  });

  it('refuses a bad query with a 400 naming the parameter, and answers nobody without the key', async () => {
    const { h } = await start();
    const cases: Array<[string, string]> = [
      ['?fn=hello', 'query.fn'],
      ['?granularity=week', 'query.granularity'],
      ['?from=yesterday', 'query.from'],
      ['?to=2030-13-45', 'query.to'],
      ['?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z', 'query.from'],
      ['?function=Bad_Name', 'query.function'],
      ['?function=a&function=b', 'query.function'],
    ];
    for (const [query, field] of cases) {
      const res = await request(h.app).get(`/v1/usage${query}`).set(auth);
      expect(res.status, query).toBe(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(res.body, query).toMatchObject({ code: 'INVALID_REQUEST', field });
    }
    expect((await request(h.app).get('/v1/usage')).status).toBe(401);
  });
});

describe('BatchedRecordWriter billed-usage counters', () => {
  it('counts a batch once when its write went through but answered with an error, as the store bills it once', async () => {
    const store = new MemoryStore();
    const metrics = createPlatformMetrics(new MetricsRegistry());
    let tries = 0;
    // The first write is applied, then its answer is lost (a Redis restart right after EXEC): the writer tries again.
    const lossy = { appendInvocations: async (rs: InvocationRecord[], ret: Parameters<MemoryStore['appendInvocations']>[1]) => {
      await store.appendInvocations(rs, ret);
      if (tries++ === 0) throw new Error('connection lost before the reply');
    } };
    const w = new BatchedRecordWriter(lossy, { flushMs: 1, maxRetryMs: 5, metrics });
    const start = new Date().toISOString();
    for (let i = 0; i < 3; i++) w.record({ id: `r${i}`, function: 'f', version: 1, trigger: 'http', start, durationMs: 9.1, statusCode: 200, outcome: 'succeeded', billedMs: 10, memoryMb: 512 });
    await w.flush();
    await w.close();
    expect(tries).toBe(2);
    expect(metrics.billedRequests.get({ function: 'f' })).toBe(3);
    expect(metrics.billedGbSeconds.get({ function: 'f' })).toBe((3 * 10 * 512) / 1_024_000);
    const rows = await store.readUsage({ fromMs: Date.now() - DAY_MS, toMs: Date.now() + DAY_MS });
    expect(rows.map((r) => ({ requests: r.requests, mbMs: r.mbMs }))).toEqual([{ requests: 3, mbMs: 15_360n }]);
    await store.close();
  });
});
