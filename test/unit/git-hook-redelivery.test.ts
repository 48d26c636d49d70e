// A forge redelivers a push (same delivery id), or someone replays an old signed push: neither builds the
// old commit as the function's newest version. Over the gateway (createApp with the fake builder, the
// memory store) and a real git server on loopback (allowed by STRATUS_GIT_ALLOWED_NETWORKS).

import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';
import { giteaPush, githubPush, gitlabPush, postHook, type HookAnswer, type HookRequest, type PushFacts } from '../support/git-forge.js';
import { createBareRepo, startGitHttpServer, WorkRepo, type GitServer } from '../support/git-server.js';

const SECRET = 'redelivery-secret-0123456789';
const ZERO = '0'.repeat(40);

describe('redelivered and replayed pushes', () => {
  let h: Harness;
  let tmp: string;
  let server: GitServer;
  let repo: WorkRepo;
  let gateway: http.Server;
  const commits: string[] = [];

  const post = (name: string, hook: HookRequest, query = ''): Promise<HookAnswer> =>
    postHook(`http://127.0.0.1:${(gateway.address() as AddressInfo).port}/v1/hooks/git/${name}${query}`, hook);
  const facts = (after: string, over: Partial<PushFacts> = {}): PushFacts => ({ ref: 'refs/heads/main', before: ZERO, after, message: 'm', modified: ['index.mjs'], cloneUrl: `${server.url}/app.git`, fullName: 'ada/app', ...over });
  const latest = async (name: string) => ((await request(h.app).get(`/v1/functions/${name}`).set(auth)).body as { latestVersion: number }).latestVersion;
  const deploy = (name: string) =>
    request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name, runtime: 'node', git: { secret: SECRET } })).attach('code', Buffer.from('export default () => 0;\n'), 'index.mjs');
  /** A new commit on the git server. */
  const pushCommit = async (text: string) => {
    const c = repo.write({ 'index.mjs': `export default () => ${JSON.stringify(text)};\n` }).commit(text);
    await repo.push(`${server.url}/app.git`);
    commits.push(c);
    return c;
  };

  beforeAll(async () => {
    h = await startHarness({ STRATUS_GIT_ALLOWED_NETWORKS: '127.0.0.1/32' });
    gateway = http.createServer(h.app);
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-redeliver-'));
    createBareRepo(path.join(tmp, 'srv'), 'app');
    server = await startGitHttpServer(path.join(tmp, 'srv'));
    repo = new WorkRepo(path.join(tmp, 'work'));
    for (const name of ['gh', 'gl', 'gt', 'other']) expect((await deploy(name)).status).toBe(202);
  });

  afterAll(async () => {
    await server?.close();
    gateway?.closeAllConnections();
    await new Promise((resolve) => gateway?.close(resolve));
    await h?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the same delivery posted twice at once builds once; the other answer says it was a duplicate', async () => {
    const c = await pushCommit('one');
    const before = h.builder.submitted.length;
    const delivery = githubPush(facts(c), SECRET);
    const answers = await Promise.all([post('gh', delivery), post('gh', delivery), post('gh', delivery)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 202]);
    expect(answers.filter((a) => a.body.duplicate === true)).toHaveLength(2);
    expect(h.builder.submitted.length).toBe(before + 1);
    // The same id sent to another function is that function's own delivery.
    expect((await post('other', delivery)).status).toBe(202);
  });

  it('each forge\'s delivery id is remembered: GitHub\'s X-GitHub-Delivery, GitLab\'s Idempotency-Key (or X-Gitlab-Event-UUID), Gitea\'s X-Gitea-Delivery', async () => {
    const c = await pushCommit('two');
    const gl = gitlabPush(facts(c), SECRET);
    const gt = giteaPush(facts(c), SECRET);
    const before = h.builder.submitted.length;
    expect((await post('gl', gl)).status).toBe(202);
    expect((await post('gt', gt)).status).toBe(202);
    // A later push (built) and then the first deliveries again: remembered, not built after the newer one.
    const c2 = await pushCommit('three');
    expect((await post('gl', gitlabPush(facts(c2, { before: c }), SECRET))).status).toBe(202);
    expect((await post('gt', giteaPush(facts(c2, { before: c }), SECRET))).status).toBe(202);
    for (const [name, hook] of [['gl', gl], ['gt', gt]] as const) {
      const again = await post(name, hook);
      expect([again.status, again.body.duplicate], name).toEqual([200, true]);
    }
    // GitLab before 17.4 sends no Idempotency-Key: its X-Gitlab-Event-UUID is the id.
    const c3 = await pushCommit('four');
    const old = gitlabPush(facts(c3, { before: c2 }), SECRET);
    const noKey = { ...old, headers: old.headers.filter(([k]) => k !== 'Idempotency-Key') };
    expect((await post('gl', noKey)).status).toBe(202);
    expect((await post('gl', noKey)).body.duplicate).toBe(true);
    expect(h.builder.submitted.length).toBe(before + 5);
  });

  it('an old commit pushed again (a replay with a new delivery id) is refused with 409 unless ?redeploy=true', async () => {
    const first = await pushCommit('five');
    expect((await post('gh', githubPush(facts(first), SECRET))).status).toBe(202);
    const firstVersion = await latest('gh');
    const second = await pushCommit('six');
    expect((await post('gh', githubPush(facts(second, { before: first }), SECRET))).status).toBe(202);
    const newest = await latest('gh');
    const before = h.builder.submitted.length;

    const replay = await post('gh', githubPush(facts(first, { before: ZERO }), SECRET));
    expect([replay.status, replay.body.code, replay.body.version, replay.body.field]).toEqual([409, 'CONFLICT', firstVersion, 'after']);
    expect(replay.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(String(replay.body.detail)).toMatch(/redeploy=true/);
    expect(await latest('gh')).toBe(newest);
    expect(h.builder.submitted.length).toBe(before);

    // The newest commit again (another delivery) is skipped as before, not refused.
    const same = await post('gh', githubPush(facts(second, { before: first }), SECRET));
    expect([same.status, typeof same.body.skipped]).toEqual([200, 'string']);

    const bad = await post('gh', githubPush(facts(first), SECRET), '?redeploy=yes');
    expect([bad.status, bad.body.code, bad.body.field]).toEqual([400, 'INVALID_REQUEST', 'redeploy']);
    const asked = await post('gh', githubPush(facts(first), SECRET), '?redeploy=true');
    expect(asked.status, JSON.stringify(asked.body)).toBe(202);
    expect(asked.body.version).toBe(newest + 1);
    expect(h.builder.submitted.length).toBe(before + 1);
  });
});
