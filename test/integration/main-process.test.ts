// `npm start` as a user runs it: platform/main.ts in its own process. With Docker and Redis it serves a
// function from a container and, on SIGTERM, drains and leaves no container behind. Without Docker on the
// machine it still deploys and serves, after saying loudly what it fell back to. With Redis configured but
// not up yet it waits for Redis instead of starting on an empty in-memory store.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { platformIdFor } from '../../platform/start-platform.js';
import { chooseRunDir, removeInstanceDir } from '../../scheduler/backends/instance-dir.js';
import { freePort, RedisServer, redisServerMissing } from '../support/redis-server.js';
import { DOCKER_SOCKET, missing } from '../support/services.js';
import { deployFunction, tarGzOf, waitForBuild } from '../support/platform-client.js';
import { spawnStratus, startStratus, type StratusProcess } from '../support/stratus-process.js';

const FIXTURES = path.resolve('test/fixtures/functions');
const KEY = 'main-process-key-0123456789';

const spawnMain = (env: Record<string, string>) => spawnStratus(KEY, env);
const startMain = (env: Record<string, string>) => startStratus(KEY, env);

let running: StratusProcess | undefined;
let stateDir: string | undefined;
afterEach(async () => {
  if (running && running.child.exitCode === null) {
    running.child.kill('SIGKILL');
    await running.exited;
  }
  running = undefined;
  if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
});

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('npm start with Docker and Redis', () => {
  it('serves a function from a container, and SIGTERM leaves no container behind', async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-main-'));
    running = await startMain({ STRATUS_STATE_DIR: stateDir, STRATUS_STORE: 'redis', STRATUS_BACKEND: 'docker' });
    const platform = { url: running.url, apiKey: KEY };
    const name = `main-${Date.now().toString(36)}`;
    const res = await deployFunction(platform, { name, runtime: 'node' }, { file: 'hello.js', content: await fs.readFile(path.join(FIXTURES, 'node-hello', 'index.js')) });
    expect(res.status).toBe(202);
    expect((await waitForBuild(platform, (await res.json()).buildId)).status).toBe('succeeded');
    const call = await fetch(`${running.url}/fn/${name}`);
    expect(call.status).toBe(200);
    expect(await call.json()).toMatchObject({ message: 'hello from node' });

    const docker = new Docker({ socketPath: DOCKER_SOCKET });
    const label = `dev.stratus.platform=${platformIdFor(stateDir)}`;
    expect((await docker.listContainers({ all: true, filters: { label: [label] } })).length).toBeGreaterThan(0);

    await fetch(`${running.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${KEY}` } });
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(running.log()).toMatch(/stopped/);
    expect(await docker.listContainers({ all: true, filters: { label: [label] } })).toEqual([]);
  });
});

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('a platform killed mid-build', () => {
  it('finishes the build after a restart and leaves no install container behind', async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-crash-'));
    const env = { STRATUS_STATE_DIR: stateDir, STRATUS_STORE: 'redis', STRATUS_BACKEND: 'docker' };
    running = await startMain(env);
    const platform = { url: running.url, apiKey: KEY };
    const name = `crash-${Date.now().toString(36)}`;
    const res = await deployFunction(platform, { name, runtime: 'node' }, { file: 'code.tar.gz', content: await tarGzOf(path.join(FIXTURES, 'node-dep')) });
    expect(res.status).toBe(202);
    const { buildId } = await res.json();
    const docker = new Docker({ socketPath: DOCKER_SOCKET });
    const installers = () => docker.listContainers({ all: true, filters: { label: [`dev.stratus.build=${buildId}`] } });
    // Kill -9 while npm runs in its install container.
    await vi.waitFor(async () => expect((await installers()).length).toBe(1), { timeout: 30_000, interval: 20 });
    running.child.kill('SIGKILL');
    await running.exited;

    running = await startMain(env);
    const restarted = { url: running.url, apiKey: KEY };
    const build = await waitForBuild(restarted, buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
    expect(await installers()).toEqual([]);
    const call = await fetch(`${running.url}/fn/${name}?value=5`);
    expect(await call.json()).toMatchObject({ isNumber: true });
    await fetch(`${running.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${KEY}` } });
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
  });
});

describe.skipIf((await missing('docker', 'registry', 'runtime-images')) || (await redisServerMissing()))('a restart on an empty Redis', () => {
  const redises: RedisServer[] = [];
  afterEach(async () => {
    for (const r of redises.splice(0)) await r.stop();
  });

  it('leaves the instances of functions the empty store does not know running', async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-emptyredis-'));
    const docker = new Docker({ socketPath: DOCKER_SOCKET });
    const label = `dev.stratus.platform=${platformIdFor(stateDir)}`;
    const first = new RedisServer(await freePort());
    const second = new RedisServer(await freePort());
    redises.push(first, second);
    await first.start();
    try {
      // No stems: the call runs in a container of the function's own, labelled with its name.
      const env = { STRATUS_STATE_DIR: stateDir, STRATUS_BACKEND: 'docker', STRATUS_STEM_POOL_SIZE: '0' };
      running = await startMain({ ...env, STRATUS_REDIS_URL: first.url });
      const platform = { url: running.url, apiKey: KEY };
      const name = `keep-${Date.now().toString(36)}`;
      const res = await deployFunction(platform, { name, runtime: 'node' }, { file: 'hello.js', content: await fs.readFile(path.join(FIXTURES, 'node-hello', 'index.js')) });
      expect((await waitForBuild(platform, (await res.json()).buildId)).status).toBe('succeeded');
      expect((await fetch(`${running.url}/fn/${name}`)).status).toBe(200);
      const instances = async () => (await docker.listContainers({ filters: { label: [label, `dev.stratus.function=${name}`] } })).map((c) => c.Id);
      const before = await instances();
      expect(before.length).toBeGreaterThan(0);
      running.child.kill('SIGKILL');
      await running.exited;

      // Redis came back empty (restarted without persistence, say): nothing says the function was deleted.
      await second.start();
      running = await startMain({ ...env, STRATUS_REDIS_URL: second.url });
      expect(await instances()).toEqual(before);
      expect(running.log()).toMatch(/left 1 instance\(s\) of an earlier run running/);
      running.child.kill('SIGTERM');
      expect(await running.exited).toBe(0);
    } finally {
      // What Stratus left running on purpose is the test's to remove: containers, then their dirs (sock/ is a mount).
      const left = await docker.listContainers({ all: true, filters: { label: [label] } });
      await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
      const runDir = chooseRunDir(path.join(stateDir, 'run'));
      for (const c of left) await removeInstanceDir(runDir, c.Labels['dev.stratus.instance']!).catch(() => {});
    }
  });
});

describe('npm start without Docker (embedded defaults)', () => {
  // Docker is absent: no socket at the configured path, never used by this state dir. Redis cannot be
  // made absent on a machine that runs it at the default address (STRATUS_REDIS_URL would count as
  // asking for it), so the in-memory store is chosen explicitly; its fallback is in test/unit/boot.test.ts.
  it('says what it fell back to, installs dependencies on the host and serves from a child process', async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-embedded-'));
    running = await startMain({ STRATUS_STATE_DIR: stateDir, STRATUS_STORE: 'memory', STRATUS_DOCKER_SOCKET: path.join(stateDir, 'no-docker.sock') });
    expect(running.log()).toMatch(/STORE: in-memory/);
    expect(running.log()).toMatch(/FALLBACK.*PROCESS backend/);
    const platform = { url: running.url, apiKey: KEY };
    const res = await deployFunction(platform, { name: 'embedded-dep', runtime: 'node' }, { file: 'code.tar.gz', content: await tarGzOf(path.join(FIXTURES, 'node-dep')) });
    expect(res.status).toBe(202);
    const build = await waitForBuild(platform, (await res.json()).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
    expect(build.image).toBeNull();
    const call = await fetch(`${running.url}/fn/embedded-dep?value=42`);
    expect(call.status).toBe(200);
    expect(await call.json()).toMatchObject({ value: '42', isNumber: true });
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
  });
});

describe.skipIf(await redisServerMissing())('npm start with Redis configured but not up yet', () => {
  let redis: RedisServer | undefined;
  afterEach(async () => {
    await redis?.stop();
    redis = undefined;
  });

  it('waits for Redis, saying why, and starts on Redis once it answers — no in-memory fallback', async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-waitredis-'));
    redis = new RedisServer(await freePort());
    const { listening, ...spawned } = spawnMain({ STRATUS_STATE_DIR: stateDir, STRATUS_REDIS_URL: redis.url, STRATUS_BACKEND: 'process' });
    running = { ...spawned, url: '' }; // killed by afterEach if the test fails while it waits
    await vi.waitFor(() => expect(spawned.log()).toMatch(/WAITING for Redis at redis:\/\/127\.0\.0\.1:\d+/), { timeout: 30_000, interval: 50 });
    expect(spawned.child.exitCode).toBeNull();
    await redis.start();
    const url = await listening;
    expect(spawned.log()).toMatch(/store: Redis/);
    expect(spawned.log()).not.toMatch(/FALLBACK|IN-MEMORY/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    spawned.child.kill('SIGTERM');
    expect(await spawned.exited).toBe(0);
  });
});
