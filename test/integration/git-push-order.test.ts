// Git pushes of one function are deployed in the order their hooks arrived across replicas: two push-hook
// routes (two replicas: each its own RedisStore on one prefix, its own git service and real FunctionService
// over the fake builder), a real git server on loopback, GitHub's hooks. Push 1 reaches A, whose deploy is
// held after its fetch (as a slow fetch would be); push 2, later, reaches B and becomes a version. When A
// goes on, push 1 is skipped with the reason in its answer and in A's log: the older commit never becomes a
// newer version. A push after both, to A, deploys.

import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { systemClock } from '../../core/lifecycle.js';
import { createLogger, silentLogger } from '../../core/log.js';
import type { Deployer } from '../../core/ports/deployer.js';
import { RedisStore } from '../../core/store/redis.js';
import { FunctionService } from '../../control/functions/function-service.js';
import { gitHooksRouter } from '../../gateway/api/routes/git-hooks.js';
import { problemMiddleware } from '../../gateway/http/problem.js';
import { createGitService, type GitService } from '../../services/git/index.js';
import { FakeBuilder } from '../support/fake-builder.js';
import { FakeScheduler } from '../support/fake-scheduler.js';
import { githubPush, postHook, type HookAnswer } from '../support/git-forge.js';
import { createBareRepo, startGitHttpServer, WorkRepo, type GitServer } from '../support/git-server.js';
import { REDIS_URL, missing } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';
import { until } from '../support/until.js';

const SECRET = 'order-hook-secret-0123456789';
const ZERO = '0'.repeat(40);

interface Replica {
  store: RedisStore;
  builder: FakeBuilder;
  git: GitService;
  server: http.Server;
  url: string;
  logs: Array<Record<string, unknown>>;
  /** Set: this replica's next deploy waits for it after the fetch, before the deploy service is called. */
  hold: { reached: () => void; release: Promise<void> } | null;
}

describe.skipIf(await missing('redis'))('git push order across two replicas on one Redis', () => {
  const prefix = `stratus-push-order-${randomUUID().slice(0, 8)}:`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-push-order-'));
  const replicas: Replica[] = [];
  let gitServer: GitServer;
  let repo: WorkRepo;
  let cloneUrl: string;
  let head = ZERO;

  async function replica(name: string): Promise<Replica> {
    const store = new RedisStore(REDIS_URL, { prefix, logger: silentLogger });
    const builder = new FakeBuilder(store);
    const functions = new FunctionService(store, builder, new FakeScheduler({ kind: 'unix', socketPath: path.join(tmp, 'none.sock') }), systemClock, silentLogger);
    const logs: Array<Record<string, unknown>> = [];
    const logger = createLogger({ json: true, level: 'info', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) });
    const r = { store, builder, logs, hold: null } as unknown as Replica;
    // The real deploy path, entered late when the test holds this replica (a slow fetch, in effect).
    const deployer: Deployer = {
      deployUpload: async (...args) => {
        const hold = r.hold;
        if (hold) {
          r.hold = null;
          hold.reached();
          await hold.release;
        }
        return functions.deployUpload(...args);
      },
    };
    const config = loadConfig({ STRATUS_STATE_DIR: path.join(tmp, name), STRATUS_GIT_ALLOWED_NETWORKS: '127.0.0.1/32' });
    r.git = createGitService({ deployer, store, config, logger });
    const app = express().use('/v1', gitHooksRouter({ git: r.git, store, logger, answerWithinMs: 120_000 })).use(problemMiddleware(logger));
    r.server = http.createServer(app);
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/v1/hooks/git/shop`;
    replicas.push(r);
    return r;
  }

  /** A new commit of the function, pushed to the git server; the hook of it, for any replica. */
  async function commit(text: string): Promise<{ commit: string; hook: ReturnType<typeof githubPush> }> {
    const id = repo.write({ 'index.mjs': `export default () => ${JSON.stringify(text)};\n` }).commit(text);
    await repo.push(cloneUrl);
    const hook = githubPush({ ref: 'refs/heads/main', before: head, after: id, message: text, modified: ['index.mjs'], cloneUrl, fullName: 'ada/shop' }, SECRET);
    head = id;
    return { commit: id, hook };
  }

  beforeAll(async () => {
    createBareRepo(path.join(tmp, 'srv'), 'shop');
    gitServer = await startGitHttpServer(path.join(tmp, 'srv'));
    cloneUrl = `${gitServer.url}/shop.git`;
    repo = new WorkRepo(path.join(tmp, 'work'));
  });

  afterAll(async () => {
    for (const r of replicas) {
      r.server.closeAllConnections();
      await new Promise<void>((resolve) => r.server.close(() => resolve()));
      await r.git.close();
      await r.store.close();
    }
    await gitServer?.close();
    await removeRedisKeys(REDIS_URL, prefix);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('skips an older push that reaches its deploy after a later one did, on another replica; versions follow the pushes', async () => {
    const a = await replica('a');
    const b = await replica('b');
    const now = new Date().toISOString();
    await a.store.putFunction({ name: 'shop', config: { name: 'shop', runtime: 'node', git: { branch: 'main', directory: '', secret: SECRET } } as never, currentVersion: null, latestVersion: 0, createdAt: now, updatedAt: now });

    const first = await commit('first');
    const second = await commit('second');

    let reached!: () => void;
    const atDeploy = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    a.hold = { reached, release: new Promise<void>((resolve) => (release = resolve)) };
    const answerA: Promise<HookAnswer> = postHook(a.url, first.hook);
    await atDeploy; // push 1 has its ticket and its fetch: A holds it before its deploy

    const answerB = await postHook(b.url, second.hook);
    expect(answerB.status, JSON.stringify(answerB.body)).toBe(202);
    expect(answerB.body).toMatchObject({ commit: second.commit, version: 1, status: 'queued' });

    release();
    const late = await answerA;
    expect(late.status, JSON.stringify(late.body)).toBe(200);
    expect(late.body.commit).toBe(first.commit);
    expect(String(late.body.skipped)).toMatch(/push #1 of shop, and push #2, which came later, became version 1 first/);
    const logged = await until('A\'s log of the skip', () => a.logs.find((l) => l.msg === 'git push skipped: a later push of the function deployed first'));
    expect(logged).toMatchObject({ function: 'shop', commit: first.commit, push: 1 });

    // Nothing of push 1 was recorded: one version, push 2's; its upload was discarded by the builder.
    const versions = await a.store.listVersions('shop');
    expect(versions.map((v) => [v.version, v.origin?.kind === 'git' ? v.origin.commit : null])).toEqual([[1, second.commit]]);
    expect((await a.store.getFunction('shop'))?.latestVersion).toBe(1);
    expect(a.builder.submitted).toEqual([]);
    expect(a.builder.discarded).toHaveLength(1);
    expect(b.builder.submitted.map((s) => s.version)).toEqual([1]);

    // A push after both deploys on A, as the next version.
    const third = await commit('third');
    const next = await postHook(a.url, third.hook);
    expect(next.status, JSON.stringify(next.body)).toBe(202);
    expect(next.body).toMatchObject({ commit: third.commit, version: 2 });
  });
});
