// A stop whatever Redis is doing: Redis (a redis-server of the test's own) dies under a running Stratus and
// stays away; SIGTERM must still run every phase and exit 0 — not wait in BullMQ's close for a Redis that does
// not come back until the process's bound (STRATUS_STOP_TIMEOUT_MS) kills it with exit 1, its later phases
// (instances, records) skipped. And the async queue's close still waits for the job under way when Redis is
// gone: the job's own work finishes; only the write of its result is given up (core/bull-close.ts).

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Docker from 'dockerode';
import { BullAsyncQueue, type AsyncResult } from '../../control/invocations/async-queue.js';
import { createLogger } from '../../core/log.js';
import { platformIdFor } from '../../core/platform-id.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { freePort, RedisServer, redisServerMissing } from '../support/redis-server.js';
import { DOCKER_SOCKET, missing } from '../support/services.js';
import { asyncClient, startStratus, type StratusProcess } from '../support/stratus-process.js';
import { until } from '../support/until.js';

const KEY = 'stop-without-redis-key-0123456789';
const SLOW = 'export default async (event) => { await new Promise((r) => setTimeout(r, event.data?.sleepMs ?? 0)); return { done: true }; };';
const docker = new Docker({ socketPath: DOCKER_SOCKET });
let platform: StratusProcess | undefined;
let redis: RedisServer | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await platform?.kill('SIGKILL');
  platform = undefined;
  await redis?.stop();
  redis = undefined;
  for (const d of dirs) {
    for (const c of await docker.listContainers({ all: true, filters: { label: [`dev.stratus.platform=${platformIdFor(d)}`] } }).catch(() => [])) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
    }
  }
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

const noDocker = await missing('docker', 'registry', 'runtime-images');
describe.skipIf(await redisServerMissing())('a stop while Redis is away (own redis-server)', () => {
  it('SIGTERM runs every phase and exits 0 while the Redis clients are reconnecting', async () => {
    const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-stop-no-redis-'));
    dirs.push(stateDir);
    redis = new RedisServer(await freePort());
    await redis.start();
    // The bound is what ends a hung stop (exit 1); a stop that works finishes far inside it.
    platform = await startStratus(KEY, {
      STRATUS_STATE_DIR: stateDir, STRATUS_STORE: 'redis', STRATUS_REDIS_URL: redis.url, STRATUS_BACKEND: 'process',
      STRATUS_STEM_POOL_SIZE: '0', STRATUS_STOP_TIMEOUT_MS: '30000', STRATUS_LOG_LEVEL: 'debug',
    });
    await redis.stop('SIGKILL');
    // The clients noticed: they are between reconnect attempts now (the state BullMQ's close never got out of).
    await until('a Redis connection error in the log', () => (/Redis (connection )?error/.test(platform!.log()) ? true : undefined), 20_000, 100);
    await platform.kill('SIGTERM');
    const code = await platform.exited;
    const log = platform.log();
    expect(log).not.toMatch(/stop did not finish/);
    expect(log).toMatch(/stopping: store/); // the last phase ran
    expect(log).toMatch(/INFO {2}stopped/);
    expect(code, log.slice(-3000)).toBe(0);
  }, 60_000);

  it('the async queue\'s close waits for the job under way, then returns though Redis is gone', async () => {
    redis = new RedisServer(await freePort());
    await redis.start();
    const logger = createLogger({ level: 'error', json: false });
    const queue = new BullAsyncQueue({ redisUrl: redis.url, prefix: `stop-no-redis-${Date.now()}:`, concurrency: 1, lockMs: 30_000, keepMs: 60_000, logger });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = false;
    let finished = false;
    queue.start(async () => {
      started = true;
      await gate;
      finished = true;
      return { statusCode: 200, headers: {}, body: 'done' } as unknown as AsyncResult;
    });
    await queue.enqueue({ id: 'job-1', function: 'f', event: { type: 't', source: 's', data: {} }, requestedAt: new Date().toISOString() }, { maxAttempts: 1, backoffMs: 100 });
    await until('the job running', () => (started ? true : undefined), 10_000);
    await redis.stop('SIGKILL');
    const closed = queue.close();
    let closedYet = false;
    void closed.then(() => (closedYet = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(closedYet).toBe(false); // the job under way is waited for
    release();
    await closed; // before core/bull-close.ts: never (the test's timeout)
    expect(finished).toBe(true);
  }, 30_000);

  it.skipIf(noDocker)('SIGTERM while an async invocation runs and Redis is gone: it finishes, its record is given up, every phase runs (Docker)', async () => {
    const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-stop-no-redis-'));
    dirs.push(stateDir);
    redis = new RedisServer(await freePort());
    await redis.start();
    platform = await startStratus(KEY, {
      STRATUS_STATE_DIR: stateDir, STRATUS_STORE: 'redis', STRATUS_REDIS_URL: redis.url, STRATUS_BACKEND: 'docker',
      STRATUS_STEM_POOL_SIZE: '0', STRATUS_ASYNC_CONCURRENCY: '1', STRATUS_STOP_TIMEOUT_MS: '30000', STRATUS_LOG_LEVEL: 'debug',
    });
    const at = { url: platform.url, apiKey: KEY };
    const name = `stop-no-redis-${Date.now().toString(36)}`;
    const deployed = await deployFunction(at, { name, runtime: 'node', timeoutMs: 60_000 }, { file: 'index.mjs', content: SLOW });
    expect(deployed.status).toBe(202);
    const build = await waitForBuild(at, ((await deployed.json()) as { buildId: string }).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
    const client = asyncClient(platform.url, KEY);
    const id = await client.submit(name, { sleepMs: 3000 });
    expect((await client.until(id, 'running')).status).toBe('running');
    await redis.stop('SIGKILL');
    await platform.kill('SIGTERM');
    const code = await platform.exited;
    const log = platform.log();
    expect(log).not.toMatch(/stop did not finish/);
    expect(log).toMatch(/stopping: backend/); // the instances phase ran: its container goes
    expect(code, log.slice(-3000)).toBe(0);
    const left = await docker.listContainers({ all: true, filters: { label: [`dev.stratus.platform=${platformIdFor(stateDir)}`] } });
    expect(left.map((c) => c.Names)).toEqual([]);
  }, 120_000);
});
