// A new upload (or image deploy) makes a version and leaves the function's aliases where they were: prod
// set to v1 still serves v1 after v2 and v3 are uploaded. It used to be dropped — the record was rewritten
// without aliases — and with it the protection image retention gives an aliased version's image.

import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

const upload = (h: Harness) =>
  request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name: 'hello', runtime: 'node' })).attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');

describe('a new version and the aliases', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(() => h.close());

  it('an upload and an image deploy keep prod where it points', async () => {
    await h.builder.succeed((await upload(h)).body.buildId);
    expect((await request(h.app).put('/v1/functions/hello/aliases/prod').set(auth).send({ version: 1 })).status).toBe(200);
    await h.builder.succeed((await upload(h)).body.buildId);
    const image = await request(h.app).post('/v1/functions').set(auth).send({ name: 'hello', runtime: 'node', image: 'registry.example/hello:3' });
    expect(image.status, image.text).toBe(201);
    const aliases = await request(h.app).get('/v1/functions/hello/aliases').set(auth);
    expect(aliases.body.aliases.prod).toEqual([{ version: 1, weight: 100 }]);
    await vi.waitFor(() => expect(h.app.routes.route('hello')?.aliases.has('prod')).toBe(true));
    expect((await request(h.app).get('/fn/hello@prod')).status).toBe(200);
    expect(h.scheduler.acquired.at(-1)!.target.version).toBe(1);
  });
});
