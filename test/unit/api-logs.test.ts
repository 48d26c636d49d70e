// GET /v1/functions/:name/logs through the gateway: newest last, filtered by request id, limit bounds,
// 404 for an unknown function, 400 naming the bad query parameter.

import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LogRecord } from '../../core/types.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

const line = (n: number, requestId: string | null): LogRecord => ({
  time: new Date(Date.UTC(2030, 0, 1, 0, 0, n)).toISOString(), function: 'hello', version: 1, instance: 'i-1',
  requestId, level: 'info', stream: 'stdout', message: `line ${n}`,
});

describe('GET /v1/functions/:name/logs', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
    const config = { name: 'hello', runtime: 'node' as const, memoryMb: 128, timeoutMs: 1000, env: {}, concurrency: 1, minInstances: 0, maxInstances: 1, idleTtlMs: 60_000 };
    await h.store.putFunction({ name: 'hello', config, currentVersion: 1, latestVersion: 1, createdAt: 't0', updatedAt: 't0' });
    await h.store.appendLogs('hello', Array.from({ length: 150 }, (_, n) => line(n, n === 3 ? 'r-first' : n % 2 ? 'r-odd' : null)));
  });
  afterEach(async () => {
    await h.close();
  });

  const get = (query = '', name = 'hello') => request(h.app).get(`/v1/functions/${name}/logs${query}`).set(auth);

  it('answers the newest 100 lines by default, newest last', async () => {
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.body.logs).toHaveLength(100);
    expect(res.body.logs[0].message).toBe('line 50');
    expect(res.body.logs.at(-1)).toEqual(line(149, 'r-odd'));
  });

  it('filters by request id, with a limit and a since', async () => {
    expect((await get('?requestId=r-first')).body.logs.map((l: LogRecord) => l.message)).toEqual(['line 3']);
    expect((await get('?requestId=r-odd&limit=2')).body.logs.map((l: LogRecord) => l.message)).toEqual(['line 147', 'line 149']);
    expect((await get(`?since=${encodeURIComponent(line(147, null).time)}`)).body.logs.map((l: LogRecord) => l.message)).toEqual(['line 148', 'line 149']);
    expect((await get('?limit=1000')).body.logs).toHaveLength(150);
  });

  it('answers 404 for an unknown function', async () => {
    const res = await get('', 'nope');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('FUNCTION_NOT_FOUND');
  });

  it.each([
    ['?limit=0', 'query.limit'],
    ['?limit=1001', 'query.limit'],
    ['?limit=ten', 'query.limit'],
    ['?limit=1&limit=2', 'query.limit'],
    ['?requestId=', 'query.requestId'],
    ['?since=yesterday', 'query.since'],
    ['?requestid=r-1', 'query.requestid'],
  ])('answers 400 for %s naming %s', async (query, field) => {
    const res = await get(query);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    expect(res.body).toMatchObject({ code: 'INVALID_REQUEST', field });
  });

  it('needs the API key', async () => {
    expect((await request(h.app).get('/v1/functions/hello/logs')).status).toBe(401);
  });
});
