// Git push builds end to end (issue 9, item 6) on real services: a whole platform (Docker, Redis, the
// registry), a real git server on loopback (git http-backend for http clone URLs, git daemon for git://),
// real `git push`es, and webhook requests built byte for byte as GitHub, GitLab and Gitea send them. A
// push builds exactly the pushed commit of the function's folder; the function URL answers the pushed code;
// build and version record commit and message; a bad signature, another branch or a push outside the folder
// builds nothing.

import fs from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { giteaPush, githubPush, gitlabPush, postHook, type HookAnswer, type HookRequest, type PushFacts } from '../support/git-forge.js';
import { createBareRepo, startGitDaemon, startGitHttpServer, WorkRepo, type GitServer } from '../support/git-server.js';
import { deployFunction, waitForBuild, type BuildView } from '../support/platform-client.js';
import { missing } from '../support/services.js';
import { until } from '../support/until.js';

const SECRET = 'push-hook-secret-0123456789';
const ZERO = '0'.repeat(40);
const handler = (answer: string) => `export default async function () {\n  return { answer: ${JSON.stringify(answer)} };\n}\n`;

interface Version {
  version: number;
  status: string;
  buildId: string | null;
  origin?: { kind: string; commit?: string; message?: string; ref?: string; repository?: string };
}

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('git push builds (Docker, Redis, registry, a git server on loopback)', () => {
  let tmp: string;
  let platform: RunningPlatform;
  let http: GitServer;
  let daemon: GitServer;
  let repo: WorkRepo;
  let head = ZERO;
  const name = `git-${Date.now().toString(36)}`;
  const api = async <T>(p: string, init: RequestInit = {}) =>
    (await (await fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' } })).json()) as T;
  const versions = async () => (await api<{ versions: Version[]; latestVersion: number }>(`/v1/functions/${name}`));
  const hook = (request: HookRequest) => postHook(`${platform.url}/v1/hooks/git/${name}`, request);
  const facts = (after: string, message: string, over: Partial<PushFacts> = {}): PushFacts => ({
    ref: 'refs/heads/main', before: head, after, message, modified: ['functions/hello/index.mjs'], cloneUrl: `${http.url}/shop.git`, fullName: 'ada/shop', ...over,
  });
  const answer = async () => (await (await fetch(`${platform.url}/fn/${name}`)).json()) as { answer?: string };

  /** The build a hook started: from its answer, or — answered before the fetch ended — from the version it made. */
  async function buildOf(res: HookAnswer, commit: string): Promise<BuildView> {
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.commit).toBe(commit);
    const buildId = typeof res.body.buildId === 'string'
      ? res.body.buildId
      : await until(`a version of ${commit}`, async () => (await versions()).versions.find((v) => v.origin?.commit === commit)?.buildId ?? undefined, 120_000, 250);
    return waitForBuild(platform, buildId);
  }

  /** Commit, real `git push`, then the forge's hook; the build it made must succeed and the URL answer `text`. */
  async function pushAndBuild(text: string, message: string, send: (after: string) => HookRequest, pushTo: string): Promise<{ commit: string; build: BuildView }> {
    const commit = repo.write({ 'functions/hello/index.mjs': handler(text) }).commit(message);
    await repo.push(pushTo);
    const build = await buildOf(await hook(send(commit)), commit);
    expect(build.status, build.error ?? '').toBe('succeeded');
    head = commit;
    await until(`the function URL answering ${text}`, async () => ((await answer()).answer === text ? true : undefined), 60_000, 200);
    return { commit, build };
  }

  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-git-push-'));
    const srv = path.join(tmp, 'srv');
    await fs.mkdir(srv);
    createBareRepo(srv, 'shop');
    http = await startGitHttpServer(srv);
    daemon = await startGitDaemon(srv);
    repo = new WorkRepo(path.join(tmp, 'work'));
    repo.write({ 'README.md': 'a shop\n', 'functions/other/index.mjs': handler('not this one') });
    head = repo.commit('the repository begins');
    await repo.push(`${http.url}/shop.git`);
    // The git server listens on 127.0.0.1: the operator lets hooks' clone URLs reach that address only.
    platform = await startPlatform(e2eConfig(path.join(tmp, 'state'), { STRATUS_GIT_ALLOWED_NETWORKS: '127.0.0.1/32' }), silentLogger);
    // The function exists (created by an upload, with its git settings) before any push reaches it.
    const res = await deployFunction(platform, { name, runtime: 'node', git: { branch: 'main', directory: 'functions/hello', secret: SECRET } }, { file: 'index.mjs', content: handler('uploaded') });
    expect(res.status).toBe(202);
    expect((await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId)).status).toBe('succeeded');
  }, 300_000);

  afterAll(async () => {
    if (platform) {
      await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
      await platform.stop();
    }
    await http?.close();
    await daemon?.close();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('a GitHub push builds that commit: the URL answers the pushed code, build and version show commit and message; a second push changes the answer', async () => {
    const { commit, build } = await pushAndBuild('v1 from git', 'Ship v1 ✓\n\nwith a body that is not kept', (after) => githubPush(facts(after, 'Ship v1 ✓'), SECRET), `${http.url}/shop.git`);
    const origin = { kind: 'git', commit, message: 'Ship v1 ✓', ref: 'refs/heads/main', repository: `${http.url}/shop.git` };
    expect((await api<{ origin: unknown }>(`/v1/builds/${build.id}`)).origin).toEqual(origin);
    const { versions: all } = await versions();
    expect(all.find((v) => v.buildId === build.id)).toMatchObject({ status: 'ready', origin });
    expect(all.find((v) => v.version === 1)?.origin).toEqual({ kind: 'upload' });

    await pushAndBuild('v2 from git', 'Ship v2', (after) => githubPush(facts(after, 'Ship v2'), SECRET), `${http.url}/shop.git`);
  });

  it('a bad signature is refused with 401 and builds nothing; another branch and a push outside the folder are skipped', async () => {
    const before = (await versions()).latestVersion;
    const commit = repo.write({ 'functions/hello/index.mjs': handler('never served') }).commit('not to be built');
    await repo.push(`${http.url}/shop.git`, 'dev');
    const forged = githubPush(facts(commit, 'not to be built'), `${SECRET}-guessed`);
    const refused = await hook(forged);
    expect(refused.status).toBe(401);
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(refused.body.code).toBe('UNAUTHORIZED');

    const dev = await hook(githubPush(facts(commit, 'not to be built', { ref: 'refs/heads/dev' }), SECRET));
    expect(dev.status).toBe(200);
    expect(dev.body.skipped).toMatch(/refs\/heads\/dev is not refs\/heads\/main/);

    repo.git('reset', '--quiet', '--hard', head);
    const readme = repo.write({ 'README.md': 'a shop, documented\n' }).commit('docs only');
    await repo.push(`${http.url}/shop.git`);
    const outside = await hook(githubPush(facts(readme, 'docs only', { modified: ['README.md'] }), SECRET));
    expect(outside.status).toBe(200);
    expect(outside.body.skipped).toMatch(/nothing under functions\/hello\//);
    head = readme;

    expect((await versions()).latestVersion).toBe(before);
    expect((await answer()).answer).toBe('v2 from git');
  });

  it('a GitLab push (X-Gitlab-Token) builds and rolls out', async () => {
    await pushAndBuild('v3 from gitlab', 'Ship v3', (after) => gitlabPush(facts(after, 'Ship v3'), SECRET), `${http.url}/shop.git`);
  });

  // (127.0.0.1 is allowed here; 127.0.0.2 is not. localhost and every other spelling: git-hook-addresses.test.ts.)
  it('a hook aimed at a loopback listener outside the allowed network never connects, and its answer holds no git words', async () => {
    let connections = 0;
    const listener = net.createServer((sock) => {
      connections++;
      sock.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.2', resolve));
    try {
      const port = (listener.address() as AddressInfo).port;
      const before = (await versions()).latestVersion;
      for (const cloneUrl of [`http://127.0.0.2:${port}/shop.git`, `http://2130706434:${port}/shop.git`, `http://[::ffff:7f00:2]:${port}/shop.git`]) {
        const res = await hook(githubPush(facts('d'.repeat(40), 'probe', { cloneUrl }), SECRET));
        expect([res.status, res.body.code], cloneUrl).toEqual([403, 'GIT_REPOSITORY_REFUSED']);
        expect(JSON.stringify(res.body)).not.toContain(String(port));
      }
      expect(connections).toBe(0);
      expect((await versions()).latestVersion).toBe(before);
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it('a redelivered push is not built twice; an old commit pushed again is refused (409) unless ?redeploy=true', async () => {
    const { commit } = await pushAndBuild('v3b', 'Ship v3b', (after) => githubPush(facts(after, 'Ship v3b'), SECRET), `${http.url}/shop.git`);
    const delivery = githubPush(facts(commit, 'Ship v3b'), SECRET);
    const first = await hook(delivery);
    expect(first.status, JSON.stringify(first.body)).toBe(200); // already the newest version
    const again = await hook(delivery);
    expect(again.body).toMatchObject({ duplicate: true, commit });
    const { versions: all, latestVersion } = await versions();
    expect(all.filter((v) => v.origin?.commit === commit)).toHaveLength(1);

    // The first test's commit (v1 from git) is an older version now: its push replayed builds nothing.
    const old = all.find((v) => v.origin?.message === 'Ship v1 ✓')!;
    const replay = await hook(githubPush(facts(old.origin!.commit!, 'Ship v1 ✓'), SECRET));
    expect([replay.status, replay.body.code, replay.body.version]).toEqual([409, 'CONFLICT', old.version]);
    expect((await versions()).latestVersion).toBe(latestVersion);
    expect((await answer()).answer).toBe('v3b');
    // Asked for, it builds as a new version.
    const asked = await postHook(`${platform.url}/v1/hooks/git/${name}?redeploy=true`, githubPush(facts(old.origin!.commit!, 'Ship v1 ✓'), SECRET));
    const build = await buildOf(asked, old.origin!.commit!);
    expect(build.status, build.error ?? '').toBe('succeeded');
    await until('the function URL answering v1 from git', async () => ((await answer()).answer === 'v1 from git' ? true : undefined), 60_000, 200);
  }, 300_000);

  it('a Gitea push (X-Gitea-Signature) builds from a pinned git:// repository served by git daemon', async () => {
    const current = await api<{ config: { git: Record<string, string> } }>(`/v1/functions/${name}`);
    const patched = await api<{ version: number }>(`/v1/functions/${name}`, { method: 'PATCH', body: JSON.stringify({ git: { ...current.config.git, repository: `${daemon.url}/shop.git` } }) });
    expect(patched.version).toBeGreaterThan(0);
    const { commit, build } = await pushAndBuild('v4 from gitea', 'Ship v4', (after) => giteaPush(facts(after, 'Ship v4'), SECRET), `${daemon.url}/shop.git`);
    expect((await api<{ origin: unknown }>(`/v1/builds/${build.id}`)).origin).toMatchObject({ commit, repository: `${daemon.url}/shop.git` });
  });
});
