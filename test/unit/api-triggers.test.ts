// The triggers and invoke-keys API over the gateway harness (MemoryStore, fake builder and scheduler):
// each type created, listed and deleted; every refusal a problem+json naming the field; the deploy
// config's `triggers` list validated before anything is recorded and replacing the function's triggers.

import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

const upload = (h: Harness, config: Record<string, unknown>) =>
  request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify(config)).attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
const post = (h: Harness, path: string, body: unknown) => request(h.app).post(path).set(auth).send(body as object);

function expectProblem(res: request.Response, status: number, code: string, field?: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe(code);
  if (field) expect(res.body.field).toBe(field);
}

describe('triggers API', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
    const up = await upload(h, { name: 'hello', runtime: 'node' });
    await h.builder.succeed(up.body.buildId);
  });
  afterEach(() => h.close());

  it('creates a cron, a storage and an http trigger with their defaults, lists and shows them', async () => {
    const cron = await post(h, '/v1/functions/hello/triggers', { type: 'cron', schedule: '*/5 * * * *', timezone: 'Europe/Paris', payload: { report: 'daily' } });
    expect(cron.status).toBe(201);
    expect(cron.body).toMatchObject({ type: 'cron', function: 'hello', schedule: '*/5 * * * *', timezone: 'Europe/Paris', payload: { report: 'daily' }, overlap: 'skip' });
    expect(cron.headers.location).toBe(`/v1/functions/hello/triggers/${cron.body.id}`);
    const storage = await post(h, '/v1/functions/hello/triggers', { type: 'storage', bucket: 'uploads', filter: { suffix: '.png' } });
    expect(storage.body).toMatchObject({ type: 'storage', source: 'stratus', bucket: 'uploads', events: ['ObjectCreated:*'], filter: { suffix: '.png' } });
    const web = await post(h, '/v1/functions/hello/triggers', { type: 'http', auth: 'key', methods: ['get', 'POST'] });
    expect(web.body).toMatchObject({ id: 'http', auth: 'key', methods: ['GET', 'POST'] });

    const list = await request(h.app).get('/v1/functions/hello/triggers').set(auth);
    expect(list.body.triggers.map((t: { type: string }) => t.type)).toEqual(['cron', 'storage', 'http']);
    const crons = await request(h.app).get('/v1/triggers?type=cron').set(auth);
    expect(crons.body.triggers.map((t: { id: string }) => t.id)).toEqual([cron.body.id]);
    const one = await request(h.app).get(`/v1/functions/hello/triggers/${cron.body.id}`).set(auth);
    expect(one.body).toMatchObject({ id: cron.body.id, fires: [] });
  });

  it('refuses a bad trigger with a problem naming the field and what is wrong', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ type: 'cron', schedule: '61 * * * *' }, 'body.schedule', /not a valid cron expression/],
      [{ type: 'cron', schedule: '* * *' }, 'body.schedule', /5 fields .* or 6/],
      [{ type: 'cron', schedule: '* * * * *', timezone: 'Mars/Olympus' }, 'body.timezone', /IANA time zone/],
      [{ type: 'webhook' }, 'body.type', /unknown trigger type "webhook"; use one of http, cron, storage/],
      [{ schedule: '* * * * *' }, 'body.type', /no type/],
      [{ type: 'storage', bucket: 'uploads', filter: {} }, 'body.filter', /empty filter/],
      [{ type: 'storage', bucket: 'uploads', filter: { prefix: '' } }, 'body.filter.prefix', /empty prefix/],
      [{ type: 'storage', bucket: 'uploads', events: ['ObjectTouched:*'] }, 'body.events.0', /each event is one of/],
      [{ type: 'http', cors: { allowOrigins: ['*'], allowCredentials: true } }, 'body.cors.allowCredentials', /origin "\*"/],
      [{ type: 'cron', schedule: '* * * * *', every: 5 }, 'body', /every/],
    ];
    for (const [body, field, message] of cases) {
      const res = await post(h, '/v1/functions/hello/triggers', body);
      expectProblem(res, 400, 'INVALID_TRIGGER', field);
      expect(res.body.detail).toMatch(message);
    }
    expect((await request(h.app).get('/v1/functions/hello/triggers').set(auth)).body.triggers).toEqual([]);
  });

  it('answers 404 for an unknown function or trigger, 409 for a second http trigger', async () => {
    expectProblem(await post(h, '/v1/functions/nobody/triggers', { type: 'cron', schedule: '* * * * *' }), 404, 'FUNCTION_NOT_FOUND');
    expectProblem(await request(h.app).get('/v1/functions/nobody/triggers').set(auth), 404, 'FUNCTION_NOT_FOUND');
    expectProblem(await request(h.app).get('/v1/functions/hello/triggers/nope').set(auth), 404, 'TRIGGER_NOT_FOUND');
    expectProblem(await request(h.app).delete('/v1/functions/hello/triggers/nope').set(auth), 404, 'TRIGGER_NOT_FOUND');
    expect((await post(h, '/v1/functions/hello/triggers', { type: 'http' })).status).toBe(201);
    expectProblem(await post(h, '/v1/functions/hello/triggers', { type: 'http', auth: 'key' }), 409, 'CONFLICT');
    expectProblem(await request(h.app).get('/v1/triggers?type=ftp').set(auth), 400, 'INVALID_REQUEST', 'query.type');
    expectProblem(await request(h.app).post('/v1/functions/hello/triggers').set(auth).set('content-type', 'text/plain').send('cron'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('sets the http trigger with PUT in one step: added, then replaced, the other triggers kept; anything else refused', async () => {
    const cron = await post(h, '/v1/functions/hello/triggers', { type: 'cron', schedule: '*/5 * * * *' });
    const put = (body: unknown) => request(h.app).put('/v1/functions/hello/triggers/http').set(auth).send(body as object);
    const added = await put({ type: 'http', auth: 'key' });
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({ id: 'http', auth: 'key' });
    const replaced = await put({ type: 'http', auth: 'public', methods: ['GET'] });
    expect(replaced.body).toMatchObject({ id: 'http', auth: 'public', methods: ['GET'] });
    const list = await request(h.app).get('/v1/functions/hello/triggers').set(auth);
    expect(list.body.triggers.map((t: { id: string }) => t.id)).toEqual([cron.body.id, 'http']);
    expectProblem(await put({ type: 'cron', schedule: '* * * * *' }), 400, 'INVALID_REQUEST', 'body.type');
    expectProblem(await put({ type: 'http', methods: ['FETCH'] }), 400, 'INVALID_TRIGGER');
    expectProblem(await request(h.app).put('/v1/functions/nobody/triggers/http').set(auth).send({ type: 'http' }), 404, 'FUNCTION_NOT_FOUND');
    expectProblem(await request(h.app).put('/v1/functions/hello/triggers/http').set(auth).set('content-type', 'text/plain').send('{"type":"http"}'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('deletes a trigger, and all of them with their function', async () => {
    const t = await post(h, '/v1/functions/hello/triggers', { type: 'cron', schedule: '* * * * *' });
    expect((await request(h.app).delete(`/v1/functions/hello/triggers/${t.body.id}`).set(auth)).status).toBe(204);
    await post(h, '/v1/functions/hello/triggers', { type: 'cron', schedule: '* * * * *' });
    expect((await request(h.app).delete('/v1/functions/hello').set(auth)).status).toBe(204);
    expect((await request(h.app).get('/v1/triggers').set(auth)).body.triggers).toEqual([]);
  });

  it('takes a triggers list from the deploy config, validated before anything is recorded', async () => {
    const bad = await upload(h, { name: 'nightly', runtime: 'node', triggers: [{ type: 'cron', schedule: '0 3 * * *' }, { type: 'cron', schedule: 'at three' }] });
    expectProblem(bad, 400, 'INVALID_TRIGGER', 'config.triggers.1.schedule');
    expectProblem(await request(h.app).get('/v1/functions/nightly').set(auth), 404, 'FUNCTION_NOT_FOUND');
    expectProblem(await upload(h, { name: 'nightly', runtime: 'node', triggers: { type: 'cron' } }), 400, 'INVALID_TRIGGER', 'config.triggers');
    expectProblem(await upload(h, { name: 'nightly', runtime: 'node', triggers: [{ type: 'http' }, { type: 'http', auth: 'key' }] }), 400, 'INVALID_TRIGGER', 'config.triggers');

    const declared = [{ type: 'cron', schedule: '0 3 * * *', timezone: 'UTC' }, { type: 'storage', bucket: 'uploads', filter: { prefix: 'in/' } }];
    const first = await upload(h, { name: 'nightly', runtime: 'node', triggers: declared });
    expect(first.status).toBe(202);
    expect(first.body.triggers.map((t: { type: string }) => t.type)).toEqual(['cron', 'storage']);
    // The same list again keeps the same triggers (and their fires); a changed list replaces them.
    const again = await upload(h, { name: 'nightly', runtime: 'node', triggers: [...declared].reverse() });
    expect(again.body.triggers.map((t: { id: string }) => t.id).sort()).toEqual(first.body.triggers.map((t: { id: string }) => t.id).sort());
    await upload(h, { name: 'nightly', runtime: 'node', triggers: [declared[0]] });
    const now = await request(h.app).get('/v1/functions/nightly/triggers').set(auth);
    expect(now.body.triggers.map((t: { id: string }) => t.id)).toEqual([first.body.triggers[0].id]);
    // An upload without a triggers list leaves them as they are.
    await upload(h, { name: 'nightly', runtime: 'node' });
    expect((await request(h.app).get('/v1/functions/nightly/triggers').set(auth)).body.triggers).toHaveLength(1);
  });

  it('issues invoke keys shown once, lists them without the key or its hash, and revokes them', async () => {
    const k = await post(h, '/v1/functions/hello/keys', { name: 'ci' });
    expect(k.status).toBe(201);
    expect(k.body.key).toMatch(/^stk_[A-Za-z0-9_-]{43}$/);
    expect(k.body).toMatchObject({ name: 'ci', function: 'hello', header: 'x-stratus-key' });
    expect(k.body.sha256).toBeUndefined();
    const list = await request(h.app).get('/v1/functions/hello/keys').set(auth);
    expect(list.body.keys).toEqual([{ id: k.body.id, function: 'hello', prefix: k.body.key.slice(0, 10), name: 'ci', createdAt: k.body.createdAt }]);
    expect(JSON.stringify(list.body)).not.toContain(k.body.key);
    expectProblem(await post(h, '/v1/functions/hello/keys', { name: '' }), 400, 'INVALID_REQUEST', 'body.name');
    expectProblem(await post(h, '/v1/functions/nobody/keys', {}), 404, 'FUNCTION_NOT_FOUND');
    expect((await request(h.app).delete(`/v1/functions/hello/keys/${k.body.id}`).set(auth)).status).toBe(204);
    expectProblem(await request(h.app).delete(`/v1/functions/hello/keys/${k.body.id}`).set(auth), 404, 'NOT_FOUND');
    expect((await request(h.app).get('/v1/functions/hello/keys').set(auth)).body.keys).toEqual([]);
  });
});
