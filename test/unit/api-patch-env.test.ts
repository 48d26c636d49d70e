// PATCH /v1/functions/:name and `env` (issue 11, item 6): env merges as a JSON merge patch — a key
// given is set, the others stay, a `null` value removes a key, `"env": null` removes them all — and the
// new version carries exactly that env to the data plane.

import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

describe('PATCH env', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
    const config = JSON.stringify({ name: 'hello', runtime: 'node', env: { KEEP: 'k', DROP: 'd', CHANGE: 'old' } });
    const res = await request(h.app).post('/v1/functions').set(auth).field('config', config).attach('code', Buffer.from('export default () => 1'), 'index.mjs');
    await h.builder.succeed(res.body.buildId);
  });
  afterEach(async () => {
    await h.close();
  });

  const patch = (body: unknown) => request(h.app).patch('/v1/functions/hello').set(auth).send(body as object);

  it('sets the keys given, removes those given as null, keeps the rest', async () => {
    const res = await patch({ env: { CHANGE: 'new', ADD: 'a', DROP: null, NEVER_SET: null } });
    expect(res.status).toBe(200);
    expect(res.body.config.env).toEqual({ KEEP: 'k', CHANGE: 'new', ADD: 'a' });
    expect((await h.store.getVersion('hello', 2))!.config.env).toEqual({ KEEP: 'k', CHANGE: 'new', ADD: 'a' });
    expect((await h.store.getFunction('hello'))!.config.env).toEqual({ KEEP: 'k', CHANGE: 'new', ADD: 'a' });
    // The version the route table hands to the scheduler is the one with the merged env.
    expect(h.app.routes.lookup('hello')).toMatchObject({ version: 2, config: { env: { KEEP: 'k', CHANGE: 'new', ADD: 'a' } } });
  });

  it('leaves env as it is when the patch does not name it', async () => {
    const res = await patch({ memoryMb: 512 });
    expect(res.status).toBe(200);
    expect(res.body.config.env).toEqual({ KEEP: 'k', DROP: 'd', CHANGE: 'old' });
  });

  it('removes every variable with "env": null', async () => {
    const res = await patch({ env: null });
    expect(res.status).toBe(200);
    expect(res.body.config.env).toEqual({});
  });

  it('refuses a value that is neither a string nor null, and a reserved name, naming the field', async () => {
    const number = await patch({ env: { PORT: 8080 } });
    expect(number.status).toBe(400);
    expect(number.body).toMatchObject({ code: 'INVALID_CONFIG', field: 'body.env.PORT' });
    const reserved = await patch({ env: { STRATUS_SOCKET: '/tmp/x' } });
    expect(reserved.status).toBe(400);
    expect(reserved.body).toMatchObject({ code: 'INVALID_CONFIG', field: 'body.env' });
    const list = await patch({ env: ['A=1'] });
    expect(list.status).toBe(400);
    expect(list.body).toMatchObject({ code: 'INVALID_CONFIG', field: 'body.env' });
    expect((await h.store.getFunction('hello'))!.currentVersion).toBe(1);
  });
});
