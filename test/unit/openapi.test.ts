// The OpenAPI document of /v1 (gateway/api/openapi/): (a) valid OpenAPI 3.1 by an independent validator and
// served at /v1/openapi.json without the key; (b) every route the app mounts is in it with the same method
// and path, and nothing else is; (c) its request schemas refuse what the API refuses, shown on examples sent
// to the real routes — JSON Schema cannot hold every rule the API checks (a cron expression's validity,
// minInstances <= maxInstances), so the cases are ones whose rule the document does carry.

import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDeliveryLog } from '../../services/notify/deliveries.js';
import { openApiDocument, openApiPath } from '../../gateway/api/openapi/document.js';
import { FULL_SCOPE } from '../../services/storage/scope.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';
import { mountedRoutes } from '../support/mounted-routes.js';

type Doc = { openapi: string; paths: Record<string, Record<string, { parameters?: { in: string; name: string; schema: object }[] }>> };
const doc = openApiDocument() as unknown as Doc;
const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** A harness with every optional router mounted: notifications, image GC, S3 keys, the MinIO hook. */
async function fullHarness(): Promise<Harness> {
  return startHarness({ STRATUS_MINIO_WEBHOOK_TOKEN: 'minio-token-0123456789' }, {
    storageTriggers: { fromMinio: async () => ({ matched: 0, queued: 0, duplicates: 0, unqueued: 0 }) },
    notifications: new MemoryDeliveryLog(),
    images: { collectAll: async () => [] },
    storage: {
      // Issues keys with whatever scope the route parsed: the scope's rules are the route's (parseKeyRequest).
      keys: { create: async (scope) => ({ accessKeyId: 'AKTEST', secretAccessKey: 'secret', created: new Date().toISOString(), scope }), list: () => [], revoke: async () => false },
      url: 'http://127.0.0.1:9',
    },
  });
}

describe('the OpenAPI document', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await fullHarness();
  });
  afterAll(() => h.close());

  it('is valid OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as object);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('is served at /v1/openapi.json without the admin key', async () => {
    const res = await request(h.app).get('/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  it('lists exactly the routes the app mounts, with the same methods and paths', () => {
    const mounted = mountedRoutes(h.app.api).filter((r) => !r.path.startsWith('/ui'));
    // A route for every method (router.all) is what the MinIO hook mounts when it is off: this app has it on.
    expect(mounted.filter((r) => r.method === 'all')).toEqual([]);
    const routes = mounted.map((r) => `${r.method.toUpperCase()} ${openApiPath(r.path)}`).sort();
    const documented = Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).filter((m) => METHODS.has(m)).map((m) => `${m.toUpperCase()} ${p}`)).sort();
    expect(routes).toEqual(documented);
  });
});

describe('the route walker the parity test relies on', () => {
  it('sees routes of nested routers under their mount paths, and every method of each', () => {
    const inner = express.Router();
    inner.get('/things/:id', () => undefined);
    inner.post('/things/:id', () => undefined);
    inner.delete('/things', () => undefined);
    const app = express();
    app.use((_req, _res, next) => next());
    app.get('/healthz', () => undefined);
    app.use('/v1', (_req, _res, next) => next(), inner);
    expect(mountedRoutes(app).map((r) => `${r.method} ${r.path}`)).toEqual(['get /healthz', 'get /v1/things/:id', 'post /v1/things/:id', 'delete /v1/things']);
  });

  it('refuses a path it cannot read instead of skipping it', () => {
    const app = express();
    app.get(/^\/odd$/, () => undefined);
    expect(() => mountedRoutes(app)).toThrow(/cannot read/);
  });
});

describe('the document refuses what the API refuses', () => {
  let h: Harness;
  let buildId = '';
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(JSON.parse(JSON.stringify(doc)) as object, 'api');
  const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
  const bodyValid = (method: string, path: string, type: string, body: unknown) => {
    const validate = ajv.getSchema(`api#/${pointer('paths', openApiPath(path), method, 'requestBody', 'content', type, 'schema')}`);
    if (!validate) throw new Error(`no ${type} body schema for ${method} ${path}`);
    return validate(body) as boolean;
  };
  const queryValid = (path: string, name: string, value: string) => {
    const param = doc.paths[openApiPath(path)]!.get!.parameters!.find((p) => p.in === 'query' && p.name === name);
    if (!param) throw new Error(`no query parameter ${name} on ${path}`);
    // A client sends an integer parameter as its digits: validate the value the schema's type describes.
    const typed = (param.schema as { type?: string }).type === 'integer' && /^\d+$/.test(value) ? Number(value) : value;
    return ajv.validate(param.schema, typed) as boolean;
  };
  /** The API refused the input itself (400 naming what was wrong), rather than answering on its merits. */
  const refused = (res: request.Response) => res.status === 400 && ['INVALID_CONFIG', 'INVALID_TRIGGER', 'INVALID_REQUEST'].includes(res.body.code as string);

  beforeAll(async () => {
    h = await fullHarness();
    const up = await request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name: 'hello', runtime: 'node' })).attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
    buildId = up.body.buildId as string;
    await h.builder.succeed(buildId);
  });
  afterAll(() => h.close());

  const deploys: Array<[string, Record<string, unknown>, boolean]> = [
    ['an image of one\'s own', { name: 'img', image: 'registry.example.test/img:1' }, true],
    ['with a cron trigger', { name: 'img2', image: 'registry.example.test/img:1', triggers: [{ type: 'cron', schedule: '*/5 * * * *' }] }, true],
    ['memory below the floor', { name: 'img3', image: 'registry.example.test/img:1', memoryMb: 10 }, false],
    ['a misspelt setting', { name: 'img4', image: 'registry.example.test/img:1', memoryMB: 512 }, false],
    ['a name with capitals', { name: 'Bad_Name', image: 'registry.example.test/img:1' }, false],
    ['a reserved env name', { name: 'img5', image: 'registry.example.test/img:1', env: { 'A-B': '1' } }, false],
    ['an unknown trigger type', { name: 'img6', image: 'registry.example.test/img:1', triggers: [{ type: 'ftp' }] }, false],
    ['a webhook secret too short', { name: 'img7', image: 'registry.example.test/img:1', notify: { webhook: { url: 'https://hooks.example.test/x', secret: 'short' } } }, false],
  ];
  it.each(deploys)('POST /v1/functions (JSON), %s: spec and API agree', async (_what, body, valid) => {
    expect(bodyValid('post', '/v1/functions', 'application/json', body)).toBe(valid);
    const res = await request(h.app).post('/v1/functions').set(auth).send(body);
    expect(refused(res), JSON.stringify(res.body)).toBe(!valid);
  });

  const triggers: Array<[Record<string, unknown>, boolean]> = [
    [{ type: 'storage', bucket: 'uploads', filter: { suffix: '.png' } }, true],
    [{ type: 'storage', bucket: 'UP' }, false],
    [{ type: 'http', auth: 'maybe' }, false],
    [{ type: 'cron', schedule: '* * * * *', overlap: 'never' }, false],
    [{ type: 'cron', schedule: '* * * * *', every: 5 }, false],
  ];
  it.each(triggers)('POST /v1/functions/:name/triggers %j: spec and API agree', async (body, valid) => {
    expect(bodyValid('post', '/v1/functions/:name/triggers', 'application/json', body)).toBe(valid);
    const res = await request(h.app).post('/v1/functions/hello/triggers').set(auth).send(body);
    expect(refused(res), JSON.stringify(res.body)).toBe(!valid);
  });

  const others: Array<[string, string, unknown, boolean]> = [
    ['patch', '/v1/functions/hello', { env: { A: '1', B: null } }, true],
    ['patch', '/v1/functions/hello', { timeoutMs: 50 }, false],
    ['patch', '/v1/functions/hello', { colour: 'red' }, false],
    ['put', '/v1/functions/hello/aliases/prod', { version: 0 }, false],
    ['put', '/v1/functions/hello/aliases/prod', { versions: [{ version: 1, weight: 150 }, { version: 2, weight: 20 }] }, false],
    ['post', '/v1/functions/hello/rollback', { to: 1 }, false],
    ['post', '/v1/functions/hello/rollback', { version: 0 }, false],
    ['post', '/v1/functions/hello/keys', { name: '' }, false],
    ['post', '/v1/functions/hello/keys', { name: 'ci' }, true],
    ['post', '/v1/storage/keys', { scope: { buckets: ['photos', 'logs-*'], access: ['read'] } }, true],
    ['post', '/v1/storage/keys', { scope: { buckets: [], access: ['read'] } }, false],
    ['post', '/v1/storage/keys', { scope: { buckets: ['*'], access: ['own'] } }, false],
  ];
  it.each(others)('%s %s %j: spec and API agree', async (method, path, body, valid) => {
    const template = path.replace('/hello', '/:name').replace('/aliases/prod', '/aliases/:alias');
    expect(bodyValid(method, template, 'application/json', body)).toBe(valid);
    const res = await request(h.app)[method as 'post'](path).set(auth).send(body as object);
    expect(refused(res), JSON.stringify(res.body)).toBe(!valid);
  });

  const queries: Array<[string, string, string, boolean]> = [
    ['/v1/functions/hello/logs', 'limit', '1000', true],
    ['/v1/functions/hello/logs', 'limit', '0', false],
    ['/v1/functions/hello/logs', 'limit', '1001', false],
    ['/v1/functions/hello/invocations', 'status', 'succeeded', true],
    ['/v1/functions/hello/invocations', 'status', 'maybe', false],
    ['/v1/triggers', 'type', 'cron', true],
    ['/v1/triggers', 'type', 'ftp', false],
    ['/v1/usage', 'granularity', 'week', false],
    ['/v1/notifications', 'function', 'Not_A_Name', false],
    ['/v1/builds/BUILD/logs', 'follow', 'yes', false],
    ['/v1/builds/BUILD/logs', 'follow', '1', true],
  ];
  it.each(queries)('GET %s?%s=%s: spec and API agree', async (path, name, value, valid) => {
    const template = path.replace('/hello', '/:name').replace('/BUILD', '/:id');
    expect(queryValid(template, name, value)).toBe(valid);
    const res = await request(h.app).get(`${path.replace('BUILD', buildId)}?${name}=${encodeURIComponent(value)}`).set(auth);
    expect(refused(res), JSON.stringify(res.body)).toBe(!valid);
  });

  it('describes the full-scope default the storage key route gives without a body', async () => {
    expect(bodyValid('post', '/v1/storage/keys', 'application/json', {})).toBe(true);
    const res = await request(h.app).post('/v1/storage/keys').set(auth).send({});
    expect(res.status).toBe(201);
    expect(res.body.scope).toEqual(FULL_SCOPE);
  });
});
