// The invocations API and the function URL's async mode over the gateway harness (fake builder and
// scheduler, a programmable instance on a unix socket, the in-memory queue and a record writer on the
// MemoryStore): sync records, async 202s and their status, and each refusal with the field it names.

import type http from 'node:http';
import request from 'supertest';
import { StratusError } from '../../core/errors.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { BatchedRecordWriter } from '../../control/invocations/invocation-records.js';
import { MemoryAsyncQueue } from '../../control/invocations/memory-queue.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

describe('invocations API', () => {
  let h: Harness;
  let records: BatchedRecordWriter;
  let queue: MemoryAsyncQueue;
  let seen: http.IncomingHttpHeaders[];

  beforeEach(async () => {
    queue = new MemoryAsyncQueue({ concurrency: 2 });
    // The harness's store is made inside it: the writer is pointed at it once it exists.
    const made: { store?: Harness['store'] } = {};
    records = new BatchedRecordWriter({ appendInvocations: (rs, ret) => made.store!.appendInvocations(rs, ret) }, { flushMs: 10 });
    h = await startHarness({}, { records, asyncQueue: queue });
    made.store = h.store;
    queue.start(h.app.asyncInvocations.process);
    seen = [];
    h.instance.handle = (req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on('end', () => res.writeHead(req.url === '/fail' ? 500 : 200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    };
    const up = await request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name: 'hello', runtime: 'node', async: { maxAttempts: 2, backoffMs: 1 } })).attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
    await h.builder.succeed(up.body.buildId);
  });

  afterEach(async () => {
    await queue.close();
    await records.close();
    await h.close();
  });

  const list = async (query = ''): Promise<InvocationRecord[]> => {
    await records.flush();
    const res = await request(h.app).get(`/v1/functions/hello/invocations${query}`).set(auth);
    expect(res.status).toBe(200);
    return res.body.invocations;
  };

  it('records every function URL call from its answer, succeeded or failed', async () => {
    const ok = await request(h.app).get('/fn/hello/x');
    const bad = await request(h.app).get('/fn/hello/fail');
    expect([ok.status, bad.status]).toEqual([200, 500]);
    const all = await list();
    expect(all.find((r) => r.id === ok.headers['x-stratus-request-id'])).toMatchObject({ function: 'hello', version: 1, trigger: 'http', statusCode: 200, outcome: 'succeeded', memoryMb: 256 });
    expect(all.find((r) => r.id === bad.headers['x-stratus-request-id'])).toMatchObject({ statusCode: 500, outcome: 'failed' });
    expect((await list('?status=failed')).map((r) => r.id)).toEqual([bad.headers['x-stratus-request-id']]);
    const one = await request(h.app).get(`/v1/invocations/${ok.headers['x-stratus-request-id']}`).set(auth);
    expect(one.body).toMatchObject({ trigger: 'http', status: 'succeeded', attempts: 1 });
  });

  it('names the platform\'s own answer in the record, and bills nothing for a call the function never ran', async () => {
    h.scheduler.acquireError = new StratusError('TOO_MANY_REQUESTS', 'every instance is busy', { retryAfterSeconds: 1 });
    const throttled = await request(h.app).get('/fn/hello/x');
    h.scheduler.acquireError = null;
    const ran = await request(h.app).get('/fn/hello/fail');
    expect([throttled.status, ran.status]).toEqual([429, 500]);
    const all = await list();
    expect(all.find((r) => r.id === throttled.headers['x-stratus-request-id'])).toMatchObject({ statusCode: 429, outcome: 'succeeded', error: 'TOO_MANY_REQUESTS', billedMs: 0 });
    const billed = all.find((r) => r.id === ran.headers['x-stratus-request-id'])!;
    expect(billed.error).toBeUndefined();
    expect(billed.billedMs).toBeGreaterThanOrEqual(1);
  });

  it('queues an async call from the API and from the function URL, and delivers it as a CloudEvent', async () => {
    const res = await request(h.app).post('/v1/functions/hello/invocations').set(auth).send({ n: 1 });
    expect(res.status).toBe(202);
    expect(res.headers.location).toBe(`/v1/invocations/${res.body.id}`);
    const viaUrl = await request(h.app).post('/fn/hello').set('x-stratus-invocation-type', 'async').send('plain text');
    expect(viaUrl.status).toBe(202);
    for (const id of [res.body.id, viaUrl.body.id]) {
      let view: { status: string } = { status: '' };
      for (let i = 0; i < 200 && view.status !== 'succeeded'; i++) {
        view = (await request(h.app).get(`/v1/invocations/${id}`).set(auth)).body;
        if (view.status !== 'succeeded') await new Promise((r) => setTimeout(r, 5));
      }
      expect(view).toMatchObject({ status: 'succeeded', attempts: 1, result: { statusCode: 200, body: '{"ok":true}' } });
    }
    expect(seen.map((s) => s['ce-id']).sort()).toEqual([res.body.id, viaUrl.body.id].sort());
    expect(seen[0]).toMatchObject({ 'ce-type': 'dev.stratus.invocation.async', 'ce-source': '/functions/hello', 'ce-specversion': '1.0' });
    expect((await list('?trigger=async')).map((r) => r.id).sort()).toEqual([res.body.id, viaUrl.body.id].sort());
  });

  it('refuses what it cannot take, naming the field', async () => {
    const type = await request(h.app).post('/fn/hello').set('x-stratus-invocation-type', 'later').send('x');
    expect([type.status, type.body.field]).toEqual([400, 'headers.x-stratus-invocation-type']);
    const key = await request(h.app).post('/v1/functions/hello/invocations').set(auth).set('idempotency-key', 'x'.repeat(201)).send({});
    expect([key.status, key.body.field]).toEqual([400, 'headers.idempotency-key']);
    const big = await request(h.app).post('/fn/hello').set('x-stratus-invocation-type', 'async').send('x'.repeat(300 * 1024));
    expect([big.status, big.body.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const notJson = await request(h.app).post('/fn/hello').set('x-stratus-invocation-type', 'async').set('content-type', 'application/json').send('{nope');
    expect([notJson.status, notJson.body.field]).toEqual([400, 'body']);
    for (const [query, field] of [['?status=maybe', 'query.status'], ['?trigger=mail', 'query.trigger'], ['?limit=0', 'query.limit'], ['?before=soon', 'query.before'], ['?colour=red', 'query.colour']]) {
      const res = await request(h.app).get(`/v1/functions/hello/invocations${query}`).set(auth);
      expect([res.status, res.body.field]).toEqual([400, field]);
    }
    expect((await request(h.app).get('/v1/functions/nobody/invocations').set(auth)).body.code).toBe('FUNCTION_NOT_FOUND');
    expect((await request(h.app).post('/v1/functions/nobody/invocations').set(auth).send({})).body.code).toBe('FUNCTION_NOT_FOUND');
    expect((await request(h.app).get('/v1/invocations/nope').set(auth)).status).toBe(404);
    expect((await request(h.app).post('/v1/functions/hello/dead-letters/nope/replay').set(auth)).status).toBe(404);
    expect((await request(h.app).get('/v1/invocations/nope')).status).toBe(401);
  });
});
