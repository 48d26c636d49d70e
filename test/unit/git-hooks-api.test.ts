// POST /v1/hooks/git/:name over the gateway (createApp with the fake builder and scheduler) and a real git
// server on loopback (git http-backend): what each refusal answers, that a push hands the builder the
// function's folder of exactly the pushed commit, and that build and version record the commit. The git
// server listens on 127.0.0.1, which a hook's clone URL may reach only as the operator allows it:
// STRATUS_GIT_ALLOWED_NETWORKS=127.0.0.1/32 here (git-hook-addresses.test.ts attacks the refusal).

import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import express from 'express';
import request from 'supertest';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { loadConfig } from '../../core/config.js';
import { MemoryStore } from '../../core/store/memory.js';
import { problemMiddleware } from '../../gateway/http/problem.js';
import { signatureFor } from '../../services/git/signature.js';
import { gitHooksRouter } from '../../gateway/api/routes/git-hooks.js';
import { createGitService } from '../../services/git/index.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';
import { giteaPush, githubPush, gitlabPush, postHook, type HookRequest, type PushFacts } from '../support/git-forge.js';
import { createBareRepo, startGitHttpServer, WorkRepo, type GitServer } from '../support/git-server.js';

const SECRET = 'hook-secret-0123456789';
const ZERO = '0'.repeat(40);

/** The files of a .tar.gz, name → content. */
async function filesOf(file: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const extract = tar.extract();
  fs.createReadStream(file).pipe(zlib.createGunzip()).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    if (entry.header.type === 'file') out[entry.header.name] = Buffer.concat(chunks).toString('utf8');
    if (entry.header.type === 'symlink') out[entry.header.name] = `-> ${entry.header.linkname}`;
  }
  return out;
}

describe('POST /v1/hooks/git/:name', () => {
  let h: Harness;
  let tmp: string;
  let server: GitServer;
  let repo: WorkRepo;
  let cloneUrl: string;
  let first: string;

  let gateway: http.Server;
  /** Byte for byte, as a forge sends it (supertest would re-encode a Buffer sent as application/json). */
  const post = async (name: string, hook: HookRequest) => {
    const res = await postHook(`http://127.0.0.1:${(gateway.address() as AddressInfo).port}/v1/hooks/git/${name}`, hook);
    return { ...res, body: res.body as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const facts = (over: Partial<PushFacts> = {}): PushFacts => ({ ref: 'refs/heads/main', before: ZERO, after: first, message: 'first', cloneUrl, fullName: 'ada/app', ...over });
  const deploy = (name: string, git: Record<string, unknown> | undefined) =>
    request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name, runtime: 'node', ...(git ? { git } : {}) })).attach('code', Buffer.from('export default () => 0;\n'), 'index.mjs');

  beforeAll(async () => {
    h = await startHarness({ STRATUS_GIT_ALLOWED_NETWORKS: '127.0.0.1/32' });
    gateway = http.createServer(h.app);
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-githook-'));
    createBareRepo(path.join(tmp, 'srv'), 'app');
    server = await startGitHttpServer(path.join(tmp, 'srv'));
    cloneUrl = `${server.url}/app.git`;
    repo = new WorkRepo(path.join(tmp, 'work'));
    repo.write({ 'fn/index.mjs': 'export default () => "v1";\n', 'fn/lib/util.mjs': 'export const x = 1;\n', 'README.md': 'not the function\n' });
    fs.symlinkSync('index.mjs', path.join(repo.dir, 'fn/alias.mjs'));
    first = repo.commit('first: Grüße ✓\n\nthe body is not kept');
    await repo.push(cloneUrl);
    expect((await deploy('app', { branch: 'main', directory: 'fn', secret: SECRET })).status).toBe(202);
    expect((await deploy('plain', undefined)).status).toBe(202);
  });

  afterAll(async () => {
    await server?.close();
    gateway?.closeAllConnections();
    await new Promise((resolve) => gateway?.close(resolve));
    await h?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a GitHub push hands the builder the function folder of that commit and records the commit on build and version', async () => {
    const before = h.builder.submitted.length;
    const res = await post('app', githubPush(facts({ added: ['fn/index.mjs'] }), SECRET));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ function: 'app', commit: first, ref: 'refs/heads/main', status: 'queued', version: 2 });
    expect(res.headers.location).toBe(`/v1/builds/${res.body.buildId}`);
    const submitted = h.builder.submitted.slice(before);
    expect(submitted).toHaveLength(1);
    expect(submitted[0]!.sourceName).toBe('source.tar.gz');
    expect(await filesOf(submitted[0]!.sourcePath)).toEqual({ 'index.mjs': 'export default () => "v1";\n', 'lib/util.mjs': 'export const x = 1;\n', 'alias.mjs': '-> index.mjs' });
    const origin = { kind: 'git', commit: first, message: 'first: Grüße ✓', ref: 'refs/heads/main', repository: cloneUrl };
    expect((await request(h.app).get(`/v1/builds/${res.body.buildId}`).set(auth)).body.origin).toEqual(origin);
    const fn = await request(h.app).get('/v1/functions/app').set(auth);
    expect(fn.body.versions.find((v: { version: number }) => v.version === 2).origin).toEqual(origin);
    expect(fn.body.versions.find((v: { version: number }) => v.version === 1).origin).toEqual({ kind: 'upload' });
    // Nothing of the fetch is left behind: the checkout is gone, the upload waits for the build.
    expect(fs.readdirSync(path.join(h.config.stateDir, 'git'))).toEqual([]);

    const again = await post('app', githubPush(facts({ added: ['fn/index.mjs'] }), SECRET));
    expect(again.status).toBe(200);
    expect(again.body.skipped).toMatch(/is version 2 of app already/);
    expect(h.builder.submitted.length).toBe(before + 1);
  });

  it('GitLab (token) and Gitea (hex signature) pushes build too', async () => {
    const second = repo.write({ 'fn/index.mjs': 'export default () => "v2";\n' }).commit('second');
    await repo.push(cloneUrl);
    const gl = await post('app', gitlabPush(facts({ before: first, after: second, message: 'second', modified: ['fn/index.mjs'] }), SECRET));
    expect(gl.status, JSON.stringify(gl.body)).toBe(202);
    expect(await filesOf(h.builder.submitted.at(-1)!.sourcePath)).toMatchObject({ 'index.mjs': 'export default () => "v2";\n' });
    const third = repo.write({ 'fn/index.mjs': 'export default () => "v3";\n' }).commit('third');
    await repo.push(cloneUrl);
    const gt = await post('app', giteaPush(facts({ before: second, after: third, message: 'third', modified: ['fn/index.mjs'] }), SECRET));
    expect(gt.status, JSON.stringify(gt.body)).toBe(202);
    expect(gt.body).toMatchObject({ commit: third });
  });

  it('GitHub\'s form content type (its settings page\'s default) builds too: JSON in `payload`, signed as sent', async () => {
    const fourth = repo.write({ 'fn/index.mjs': 'export default () => "v4";\n' }).commit('fourth');
    await repo.push(cloneUrl);
    const json = githubPush(facts({ after: fourth, message: 'fourth', modified: ['fn/index.mjs'] }), SECRET);
    const body = Buffer.from(`payload=${encodeURIComponent(json.body.toString('utf8'))}`);
    const headers = json.headers.map(([k, v]): [string, string] =>
      k === 'Content-Type' ? [k, 'application/x-www-form-urlencoded'] : k === 'X-Hub-Signature-256' ? [k, signatureFor('github', SECRET, body)] : [k, v]);
    const res = await post('app', { headers, body });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(await filesOf(h.builder.submitted.at(-1)!.sourcePath)).toMatchObject({ 'index.mjs': 'export default () => "v4";\n' });
  });

  it('refuses a wrong or missing credential with 401 problem+json and builds nothing', async () => {
    const before = h.builder.submitted.length;
    const cases: HookRequest[] = [githubPush(facts(), `${SECRET}-wrong`), gitlabPush(facts(), 'wrong-token-0123456789'), giteaPush(facts(), `${SECRET}-wrong`)];
    const unsigned = githubPush(facts(), SECRET);
    cases.push({ ...unsigned, headers: unsigned.headers.filter(([k]) => !k.startsWith('X-Hub-Signature')) });
    const tampered = githubPush(facts(), SECRET);
    cases.push({ ...tampered, body: Buffer.from(tampered.body.toString('utf8').replace(first, 'c'.repeat(40))) });
    for (const hook of cases) {
      const res = await post('app', hook);
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body.code).toBe('UNAUTHORIZED');
    }
    expect(h.builder.submitted.length).toBe(before);
  });

  it('answers a ping, skips other events, other branches, deletions and pushes outside the folder', async () => {
    const before = h.builder.submitted.length;
    expect((await post('app', githubPush(facts(), SECRET, 'ping'))).body).toMatchObject({ ok: true, event: 'ping' });
    const skipped = async (hook: HookRequest) => {
      const res = await post('app', hook);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return String(res.body.skipped);
    };
    expect(await skipped(githubPush(facts(), SECRET, 'issues'))).toMatch(/"issues" event is not a push/);
    expect(await skipped(githubPush(facts({ ref: 'refs/heads/dev' }), SECRET))).toMatch(/refs\/heads\/dev is not refs\/heads\/main/);
    expect(await skipped(githubPush(facts({ before: first, after: ZERO }), SECRET))).toMatch(/deleted main/);
    expect(await skipped(githubPush(facts({ before: first, modified: ['README.md'] }), SECRET))).toMatch(/nothing under fn\//);
    expect(h.builder.submitted.length).toBe(before);
  });

  it('names what is wrong: no function, no git settings, no forge, broken JSON, a payload of wrong types, too large a body', async () => {
    const hook = githubPush(facts(), SECRET);
    expect((await post('nope', hook)).body.code).toBe('FUNCTION_NOT_FOUND');
    expect((await post('Bad_Name', hook)).body.code).toBe('FUNCTION_NOT_FOUND');
    const plain = await post('plain', hook);
    expect([plain.status, plain.body.code, plain.body.field]).toEqual([404, 'GIT_NOT_CONFIGURED', 'config.git']);
    const noForge = await post('app', { headers: [['Content-Type', 'application/json']], body: hook.body });
    expect([noForge.status, noForge.body.field]).toEqual([400, 'headers']);
    const brokenBody = Buffer.from('{"ref": ');
    const signed = (body: Buffer): HookRequest => {
      const fresh = githubPush(facts(), SECRET);
      const sig = signatureFor('github', SECRET, body);
      return { headers: fresh.headers.map(([k, v]) => [k, k === 'X-Hub-Signature-256' ? sig : v]), body };
    };
    expect((await post('app', signed(brokenBody))).body).toMatchObject({ code: 'INVALID_REQUEST', field: 'body' });
    const wrongTypes = JSON.parse(hook.body.toString('utf8'));
    wrongTypes.after = { sha: first };
    expect((await post('app', signed(Buffer.from(JSON.stringify(wrongTypes))))).body).toMatchObject({ code: 'INVALID_REQUEST', field: 'body.after' });
    const huge = await post('app', signed(Buffer.alloc(5 * 1024 * 1024, 0x20)));
    expect([huge.status, huge.body.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  });

  it('refuses a repository other than the pinned one, and a file:// URL from an unpinned hook (403)', async () => {
    expect((await deploy('pinned', { directory: 'fn', secret: SECRET, repository: cloneUrl })).status).toBe(202);
    const other = await post('pinned', githubPush(facts({ cloneUrl: `${server.url}/other.git`, fullName: 'eve/other' }), SECRET));
    expect([other.status, other.body.code]).toEqual([403, 'GIT_REPOSITORY_REFUSED']);
    const local = await post('app', githubPush(facts({ cloneUrl: `file://${path.join(tmp, 'srv', 'app.git')}` }), SECRET));
    expect([local.status, local.body.code]).toEqual([403, 'GIT_REPOSITORY_REFUSED']);
    expect(local.body.detail).toMatch(/pinned/);
    // The pinned repository matches its own events, whatever URL form the event uses.
    const own = await post('pinned', githubPush(facts({ added: ['fn/index.mjs'] }), SECRET));
    expect(own.status, JSON.stringify(own.body)).toBe(202);
  });

  it('a commit git cannot fetch is 502 GIT_FETCH_FAILED without git\'s words or a credential', async () => {
    const withToken = `${server.url.replace('http://', 'http://ada:tok3n-s3cret@')}/missing.git`;
    expect((await deploy('gone', { secret: SECRET, repository: withToken })).status).toBe(202);
    const res = await post('gone', githubPush(facts({ cloneUrl: `${server.url}/missing.git` }), SECRET));
    expect([res.status, res.body.code]).toEqual([502, 'GIT_FETCH_FAILED']);
    expect(res.body.detail).toMatch(/could not fetch commit/);
    // git says "repository '…' not found" or "fatal: …": none of it reaches the hook's caller, nor the URL.
    expect(JSON.stringify(res.body)).not.toMatch(/fatal|not found|missing\.git|127\.0\.0\.1|tok3n-s3cret/);
    const version = (await request(h.app).get('/v1/functions/gone').set(auth)).body.latestVersion;
    expect(version).toBe(1); // nothing recorded
  });

  it('a directory that is a symlink in the commit is refused (it could name any folder of the host)', async () => {
    const sneaky = new WorkRepo(path.join(tmp, 'sneaky'));
    fs.symlinkSync('/etc', path.join(sneaky.dir, 'fn'));
    const commit = sneaky.commit('fn is /etc');
    createBareRepo(path.join(tmp, 'srv'), 'sneaky');
    await sneaky.push(`${server.url}/sneaky.git`);
    expect((await deploy('sneaky', { directory: 'fn', secret: SECRET })).status).toBe(202);
    const res = await post('sneaky', githubPush(facts({ after: commit, cloneUrl: `${server.url}/sneaky.git`, fullName: 'ada/sneaky' }), SECRET));
    expect([res.status, res.body.code, res.body.field]).toEqual([400, 'INVALID_CONFIG', 'config.git.directory']);
    expect(res.body.detail).toMatch(/symlink/);
  });
});

describe('a fetch slower than the forge waits', () => {
  it('is answered 202 { status: "fetching" } at once and goes on to deploy', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-githook-slow-'));
    const store = new MemoryStore();
    const config = loadConfig({ STRATUS_STATE_DIR: path.join(tmp, 'state'), STRATUS_GIT_ALLOWED_NETWORKS: '127.0.0.1/32' });
    const deployed: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const service = {
      deployUpload: async (_c: unknown, buildId: string) => {
        await gate;
        deployed.push(buildId);
        return { name: 'slow', version: 2, buildId, status: 'queued' as const };
      },
    };
    const srv = path.join(tmp, 'srv');
    createBareRepo(srv, 'app');
    const git = await startGitHttpServer(srv);
    try {
      const repo = new WorkRepo(path.join(tmp, 'work'));
      const commit = repo.write({ 'index.mjs': 'export default () => 1;\n' }).commit('one');
      await repo.push(`${git.url}/app.git`);
      const now = new Date().toISOString();
      await store.putFunction({ name: 'slow', config: { name: 'slow', runtime: 'node', git: { branch: 'main', directory: '', secret: SECRET } } as never, currentVersion: null, latestVersion: 1, createdAt: now, updatedAt: now });
      const app = express().use('/v1', gitHooksRouter({ git: createGitService({ deployer: service, store, config, logger: silentLogger }), store, logger: silentLogger, answerWithinMs: 0 })).use(problemMiddleware(silentLogger));
      const hook = githubPush({ ref: 'refs/heads/main', before: ZERO, after: commit, message: 'one', cloneUrl: `${git.url}/app.git`, fullName: 'ada/app' }, SECRET);
      const listening = http.createServer(app);
      await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
      const res = await postHook(`http://127.0.0.1:${(listening.address() as AddressInfo).port}/v1/hooks/git/slow`, hook).finally(() => listening.close());
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ function: 'slow', commit, status: 'fetching', links: { function: '/v1/functions/slow' } });
      expect(deployed).toEqual([]);
      release();
      for (let i = 0; deployed.length === 0 && i < 200; i++) await new Promise((resolve) => setTimeout(resolve, 25));
      expect(deployed).toHaveLength(1);
    } finally {
      release();
      await git.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
