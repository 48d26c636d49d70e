// The console's routes over the gateway harness: a deploy from /ui/console/deploy takes the API's own
// upload path (the same INVALID_CONFIG and BAD_ARCHIVE answers as POST /v1/functions), a redeploy keeps the
// version's settings, the pages show code and names as text, and no action runs without the session, the
// CSRF token and this origin. The line diff the diff page draws is checked on its own.

import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateLayout } from '../../core/state-layout.js';
import { lineDiff, splitLines } from '../../gateway/ui/console/line-diff.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';
import fs from 'node:fs';
import path from 'node:path';

const HOST = '127.0.0.1:8080';
const ORIGIN = `http://${HOST}`;

let h: Harness;
let cookie: string;
let csrf: string;

beforeEach(async () => {
  h = await startHarness();
  const login = await request(h.app).post('/ui/login').set({ host: HOST, origin: ORIGIN }).type('form').send({ key: auth.Authorization.slice('Bearer '.length) });
  expect(login.status).toBe(303);
  cookie = String(login.headers['set-cookie']).split(';')[0]!;
  const page = await request(h.app).get('/ui/new').set({ host: HOST, cookie, accept: 'text/html' });
  csrf = /name="csrf-token" content="([^"]+)"/.exec(page.text)![1]!;
});
afterEach(async () => {
  await h.close();
});

const code = Buffer.from('export default () => 1;\n');
const consoleDeploy = (config: unknown, query = '', file = code, name = 'index.mjs') =>
  request(h.app).post(`/ui/console/deploy${query}`).set({ host: HOST, origin: ORIGIN, cookie, 'x-csrf-token': csrf, accept: 'application/json' })
    .field('config', JSON.stringify(config)).attach('code', file, name);
const apiDeploy = (config: unknown) => request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify(config)).attach('code', code, 'index.mjs');

describe('the console\'s deploy', () => {
  it('answers a bad setting and a bad archive exactly as the API does', async () => {
    const config = { name: 'same', runtime: 'node', memoryMb: 5 };
    const [ui, api] = [await consoleDeploy(config), await apiDeploy(config)];
    expect(ui.status).toBe(400);
    expect([ui.body.code, ui.body.field, ui.body.detail]).toEqual([api.body.code, api.body.field, api.body.detail]);
    h.builder.refuseUpload = 'the archive is not an archive';
    const bad = await consoleDeploy({ name: 'same', runtime: 'node' });
    expect([bad.status, bad.body.code, bad.body.detail]).toEqual([422, 'BAD_ARCHIVE', 'the archive is not an archive']);
    expect((await request(h.app).get('/v1/functions/same').set(auth)).status).toBe(404);
  });

  it('deploys through the builder, answers the build page to follow, and a redeploy keeps the version\'s settings', async () => {
    const first = await consoleDeploy({ name: 'kept', runtime: 'node', memoryMb: 512, env: { A: '1' } });
    expect(first.status).toBe(202);
    expect(first.body.links).toEqual({ build: `/ui/builds/${first.body.buildId}?then=kept`, function: '/ui/functions/kept' });
    expect(h.builder.submitted.map((b) => [b.function, b.sourceName])).toEqual([['kept', 'index.mjs']]);
    await h.builder.succeed(first.body.buildId);
    const again = await consoleDeploy({}, '?from=kept&version=1');
    expect(again.status).toBe(202);
    expect(h.builder.submitted[1]!.config).toMatchObject({ name: 'kept', runtime: 'node', memoryMb: 512, env: { A: '1' } });
    const renamed = await consoleDeploy({ name: 'other' }, '?from=kept&version=1');
    expect([renamed.status, renamed.body.code]).toEqual([400, 'INVALID_CONFIG']);
    const missing = await consoleDeploy({}, '?from=kept&version=9');
    expect([missing.status, missing.body.code]).toEqual([404, 'NOT_FOUND']);
  });

  it('refuses a deploy without the token, from another origin, or without the session', async () => {
    const base = () => request(h.app).post('/ui/console/deploy').field('config', JSON.stringify({ name: 'nope', runtime: 'node' })).attach('code', code, 'index.mjs');
    const noToken = await base().set({ host: HOST, origin: ORIGIN, cookie, accept: 'application/json' });
    expect([noToken.status, noToken.body.code]).toEqual([403, 'CSRF_REFUSED']);
    const otherOrigin = await base().set({ host: HOST, origin: 'http://evil.example', cookie, 'x-csrf-token': csrf, accept: 'application/json' });
    expect([otherOrigin.status, otherOrigin.body.code]).toEqual([403, 'CSRF_REFUSED']);
    const noSession = await base().set({ host: HOST, origin: ORIGIN, 'x-csrf-token': csrf, accept: 'application/json' });
    expect(noSession.status).toBe(401);
    expect(h.builder.submitted).toEqual([]);
  });
});

describe('the console\'s pages', () => {
  const get = (p: string) => request(h.app).get(p).set({ host: HOST, cookie, accept: 'text/html' });

  it('shows a version\'s code and the diff of two as text, never as markup', async () => {
    const versions: number[] = [];
    for (const text of ['// v1 </textarea><script>alert(1)</script>\nexport default () => 1;\n', '// v2 </textarea><script>alert(2)</script>\nexport default () => 2;\n']) {
      const res = await consoleDeploy({ name: 'shown', runtime: 'node' }, '', Buffer.from(text));
      const dir = new StateLayout(h.config.stateDir).source('shown', res.body.buildId);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'index.mjs'), text);
      await h.builder.succeed(res.body.buildId);
      versions.push(res.body.version);
    }
    const page = await get('/ui/functions/shown/code?version=1');
    expect(page.status).toBe(200);
    expect(page.text).toContain('// v1 &lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.text).not.toContain('<script>alert');
    expect(page.text).toContain('data-single="index.mjs"');
    const diff = await get(`/ui/functions/shown/diff?a=${versions[0]}&b=${versions[1]}`);
    expect(diff.status).toBe(200);
    expect(diff.text).not.toContain('<script>alert');
    expect(diff.text.match(/class="diff-changed"/g)).toHaveLength(2);
    const bad = await get('/ui/functions/shown/diff?a=1&b=x');
    expect(bad.status).toBe(400);
    const source = await get('/ui/functions/shown/versions/1/source');
    expect(source.headers['content-disposition']).toBe('attachment; filename="index.mjs"');
  });

  it('serves the create page with the templates and the editor bundle from /ui/assets', async () => {
    const page = await get('/ui/new');
    expect(page.text).toContain('<script src="/ui/assets/console.js" defer></script>');
    expect(page.text).toContain('def handler(event, context):');
    const css = await request(h.app).get('/ui/assets/console.css').set({ host: HOST, cookie });
    expect(css.status).toBe(200);
    const noSession = await request(h.app).get('/ui/new').set({ host: HOST, accept: 'text/html' });
    expect(noSession.status).toBe(303);
  });
});

describe('lineDiff', () => {
  it('pairs changed lines, keeps the same ones, and lists what was added or removed', () => {
    const rows = lineDiff(splitLines('a\nb\nc\nd\n'), splitLines('a\nB\nc\nd\ne\n'));
    expect(rows.map((r) => [r.kind, r.left?.text ?? null, r.right?.text ?? null])).toEqual([
      ['same', 'a', 'a'], ['changed', 'b', 'B'], ['same', 'c', 'c'], ['same', 'd', 'd'], ['added', null, 'e'],
    ]);
    expect(lineDiff(splitLines('x\ny'), []).map((r) => r.kind)).toEqual(['removed', 'removed']);
  });

  it('shows two huge files as replaced rather than spending the LCS table on them', () => {
    const a = Array.from({ length: 3000 }, (_, i) => `a${i}`);
    const b = Array.from({ length: 3000 }, (_, i) => (i === 5 ? 'changed' : `a${i}`));
    const rows = lineDiff(a, b);
    expect(rows).toHaveLength(3000);
    expect(rows.every((r) => r.kind === 'changed')).toBe(true);
  });
});
