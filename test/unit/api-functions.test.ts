import fs from 'node:fs';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_KEY, auth, startHarness, type Harness } from '../support/gateway-harness.js';

const nodeConfig = (over: Record<string, unknown> = {}) => JSON.stringify({ name: 'hello', runtime: 'node', memoryMb: 128, ...over });
const code = Buffer.from('export default async () => ({ statusCode: 200, body: "hi" });\n');

describe('control plane: /v1/functions', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ STRATUS_MAX_UPLOAD_MB: '1', STRATUS_ROLLBACK_WARM_MS: '0' });
  });
  afterEach(async () => {
    await h.close();
  });

  const upload = (config = nodeConfig()) =>
    request(h.app).post('/v1/functions').set(auth).field('config', config).attach('code', code, 'index.mjs');

  describe('auth', () => {
    it('answers 401 problem+json with WWW-Authenticate when the key is missing', async () => {
      const res = await request(h.app).get('/v1/functions');
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.headers['x-stratus-request-id']).toBeTruthy();
      expect(res.body.code).toBe('UNAUTHORIZED');
    });

    it('answers 401 for a wrong key, also on /metrics', async () => {
      const wrong = { Authorization: `Bearer ${API_KEY}x` };
      expect((await request(h.app).get('/v1/functions').set(wrong)).status).toBe(401);
      expect((await request(h.app).get('/metrics').set(wrong)).status).toBe(401);
      const ok = await request(h.app).get('/metrics').set(auth);
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('stratus_up 1');
    });

    it('serves /healthz without a key', async () => {
      const res = await request(h.app).get('/healthz');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'ok', store: 'memory' });
    });

    it('serves /readyz without a key: 200 until a stop begins, then 503 SHUTTING_DOWN while /healthz stays 200', async () => {
      const ready = await request(h.app).get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ status: 'ready' });
      expect(ready.headers['cache-control']).toBe('no-store');
      const stopping = h.close(); // its first step is the drain notice (platform/shutdown.ts)
      const draining = await request(h.app).get('/readyz');
      expect(draining.status).toBe(503);
      expect(draining.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(draining.body.code).toBe('SHUTTING_DOWN');
      expect((await request(h.app).get('/healthz')).status).toBe(200);
      await stopping;
    });
  });

  describe('POST /v1/functions', () => {
    it('saves the upload, writes build/version/function records, submits the build and answers 202', async () => {
      const res = await upload();
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ name: 'hello', version: 1, status: 'queued' });
      const buildId = res.body.buildId as string;
      expect(res.body.links).toMatchObject({ build: `/v1/builds/${buildId}`, logs: `/v1/builds/${buildId}/logs` });
      expect(res.body.links.url).toMatch(/^http:\/\/hello\.fn\.localhost(:\d+)?\/$/);
      expect(res.body.links.apiUrl).toMatch(/\/fn\/hello$/);

      expect(h.builder.submitted).toHaveLength(1);
      const submitted = h.builder.submitted[0]!;
      expect(submitted).toMatchObject({ buildId, function: 'hello', version: 1, sourceName: 'index.mjs' });
      expect(submitted.sourcePath.startsWith(h.config.stateDir)).toBe(true);
      expect(fs.readFileSync(submitted.sourcePath)).toEqual(code);

      expect(await h.store.getBuild(buildId)).toMatchObject({ status: 'queued', function: 'hello', version: 1 });
      expect(await h.store.getVersion('hello', 1)).toMatchObject({ status: 'building', buildId });
      expect(await h.store.getFunction('hello')).toMatchObject({ currentVersion: null, latestVersion: 1 });
    });

    it('accepts the config sent as a file part (as fetch FormData does with a Blob)', async () => {
      const res = await request(h.app).post('/v1/functions').set(auth)
        .attach('config', Buffer.from(nodeConfig()), { filename: 'blob', contentType: 'application/json' })
        .attach('code', code, 'index.mjs');
      expect(res.status).toBe(202);
      expect(h.builder.submitted[0]!.config.memoryMb).toBe(128);
    });

    it('sanitises the file name so it cannot leave the upload directory', async () => {
      const res = await request(h.app).post('/v1/functions').set(auth).field('config', nodeConfig()).attach('code', code, '../../evil name.tar.gz');
      expect(res.status).toBe(202);
      expect(h.builder.submitted[0]!.sourceName).toBe('evil_name.tar.gz');
    });

    it('answers 400 naming the field for an invalid config', async () => {
      const res = await upload(nodeConfig({ memoryMb: 1 }));
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'INVALID_CONFIG', field: 'config.memoryMb' });
      expect(h.builder.submitted).toHaveLength(0);
      expect(await h.store.getFunction('hello')).toBeNull();
    });

    it('answers 400 when the code part is missing', async () => {
      const res = await request(h.app).post('/v1/functions').set(auth).field('config', nodeConfig());
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ field: 'code' });
    });

    it('answers 400 when the config part is missing or not JSON', async () => {
      const missing = await request(h.app).post('/v1/functions').set(auth).attach('code', code, 'index.mjs');
      expect(missing.status).toBe(400);
      expect(missing.body.field).toBe('config');
      const broken = await upload('{nope');
      expect(broken.status).toBe(400);
      expect(broken.body.field).toBe('config');
    });

    it('answers 413 naming the limit and leaves no partial file', async () => {
      const big = Buffer.alloc(1024 * 1024 + 4096, 0x61);
      const res = await request(h.app).post('/v1/functions').set(auth).field('config', nodeConfig()).attach('code', big, 'big.js');
      expect(res.status).toBe(413);
      expect(res.body).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'code' });
      expect(res.body.detail).toContain('1 MB');
      const uploads = `${h.config.stateDir}/uploads`;
      expect(fs.existsSync(uploads) ? fs.readdirSync(uploads) : []).toEqual([]);
      expect(h.builder.submitted).toHaveLength(0);
    });

    it('answers 415 for other content types', async () => {
      const res = await request(h.app).post('/v1/functions').set(auth).set('content-type', 'text/plain').send('hello');
      expect(res.status).toBe(415);
      expect(res.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });

    it('answers 400 for malformed JSON', async () => {
      const res = await request(h.app).post('/v1/functions').set(auth).set('content-type', 'application/json').send('{"name":');
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
    });

    it('deploys a user image from JSON as a ready version at once', async () => {
      const res = await request(h.app).post('/v1/functions').set(auth).send({ name: 'own', image: 'example/own:1', memoryMb: 128 });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ name: 'own', version: 1, status: 'ready', buildId: null });
      expect(await h.store.getFunction('own')).toMatchObject({ currentVersion: 1 });
      expect(h.builder.submitted).toHaveLength(0);
      expect(h.app.routes.lookup('own')).toMatchObject({ version: 1, image: 'example/own:1' });
    });

    it('refuses JSON without an image', async () => {
      const res = await request(h.app).post('/v1/functions').set(auth).send({ name: 'own', runtime: 'node' });
      expect(res.status).toBe(400);
      expect(res.body.field).toBe('body.image');
    });

    it('refuses an upload the builder cannot unpack with its 4xx and records nothing', async () => {
      h.builder.refuseUpload = 'the archive entry "../evil" points outside the upload';
      const res = await upload();
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: 'BAD_ARCHIVE', field: 'code' });
      expect(await h.store.listFunctions()).toEqual([]);
      expect(await h.store.listUnfinishedBuilds()).toEqual([]);
      expect(h.builder.submitted).toEqual([]);
    });

    it('marks the build failed when the builder cannot take it', async () => {
      h.builder.failSubmit = true;
      const res = await upload();
      expect(res.status).toBe(500);
      expect(res.body.detail).not.toContain('queue is down');
      const [build] = await h.store.listUnfinishedBuilds();
      expect(build).toBeUndefined();
    });
  });

  describe('list, show, patch, delete', () => {
    const deployed = async () => {
      const res = await upload();
      await h.builder.succeed(res.body.buildId);
      return res.body.buildId as string;
    };

    it('lists functions with their status and url', async () => {
      await upload(nodeConfig({ name: 'building' }));
      const failed = await upload(nodeConfig({ name: 'broken' }));
      await h.builder.fail(failed.body.buildId, 'syntax error in index.mjs');
      await deployed();
      const res = await request(h.app).get('/v1/functions').set(auth);
      expect(res.status).toBe(200);
      const byName = Object.fromEntries((res.body.functions as Array<{ name: string; status: string }>).map((f) => [f.name, f]));
      expect(byName.building).toMatchObject({ status: 'building', currentVersion: null, latestVersion: 1 });
      expect(byName.broken).toMatchObject({ status: 'failed' });
      expect(byName.hello).toMatchObject({ status: 'ready', currentVersion: 1 });
      expect(byName.hello!).toHaveProperty('url');
    });

    it('shows one function with its versions, 404 for an unknown one', async () => {
      await deployed();
      const res = await request(h.app).get('/v1/functions/hello').set(auth);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ name: 'hello', currentVersion: 1 });
      expect(res.body.versions).toHaveLength(1);
      const missing = await request(h.app).get('/v1/functions/nope').set(auth);
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe('FUNCTION_NOT_FOUND');
    });

    it('PATCH makes a new ready version reusing the current code, and flips the route', async () => {
      await deployed();
      const v1 = (await h.store.getVersion('hello', 1))!;
      const res = await request(h.app).patch('/v1/functions/hello').set(auth).send({ memoryMb: 512 });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ version: 2, status: 'ready' });
      const v2 = (await h.store.getVersion('hello', 2))!;
      expect(v2).toMatchObject({ status: 'ready', image: v1.image, artifactDir: v1.artifactDir });
      expect(v2.config.memoryMb).toBe(512);
      expect(await h.store.getFunction('hello')).toMatchObject({ currentVersion: 2, latestVersion: 2 });
      expect(h.app.routes.lookup('hello')?.version).toBe(2);
      await h.app.close(); // let background retire/prewarm settle
      expect(h.scheduler.retired).toContainEqual({ name: 'hello', keepVersion: 2 });
      expect(h.scheduler.prewarmed.map((d) => d.version)).toContain(2);
    });

    it('PATCH answers 409 before anything is deployed and 400 naming a bad field', async () => {
      await upload();
      const early = await request(h.app).patch('/v1/functions/hello').set(auth).send({ memoryMb: 512 });
      expect(early.status).toBe(409);
      expect(early.body.code).toBe('CONFLICT');
      await h.builder.succeed(h.builder.submitted[0]!.buildId);
      const bad = await request(h.app).patch('/v1/functions/hello').set(auth).send({ timeoutMs: -1 });
      expect(bad.status).toBe(400);
      expect(bad.body.field).toBe('body.timeoutMs');
    });

    it('DELETE retires instances, purges artifacts and removes the records; 404 when unknown', async () => {
      const buildId = await deployed();
      const res = await request(h.app).delete('/v1/functions/hello').set(auth);
      expect(res.status).toBe(204);
      expect(h.scheduler.retired).toContainEqual({ name: 'hello', keepVersion: undefined });
      expect(h.builder.purged).toEqual(['hello']);
      expect(await h.store.getFunction('hello')).toBeNull();
      expect(await h.store.getBuild(buildId)).toBeNull();
      expect(h.app.routes.lookup('hello')).toBeUndefined();
      expect((await request(h.app).delete('/v1/functions/hello').set(auth)).status).toBe(404);
    });

    it('lists instances through the scheduler', async () => {
      await deployed();
      const res = await request(h.app).get('/v1/functions/hello/instances').set(auth);
      expect(res.status).toBe(200);
      expect(res.body.instances[0]).toMatchObject({ function: 'hello', state: 'ready' });
    });

    it('answers 400, not 500, for a malformed escape in a path parameter', async () => {
      const res = await request(h.app).get('/v1/functions/%E0%A4%A').set(auth);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('INVALID_REQUEST');
    });

    it('answers 404 problem+json for an unknown route', async () => {
      const res = await request(h.app).get('/v1/nothing').set(auth);
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('NOT_FOUND');
    });
  });
});
