// Redis goes away under a running Stratus and comes back: a redis-server of the test's own (its own port
// and data dir, append-only file) is shut down cleanly while one async invocation runs and others wait in
// the queue, stays down for ten seconds, and is started again on the same port and dir. Stratus (in a
// child process, real Docker) must reconnect by itself: every invocation ends succeeded with one record
// each (also those whose record writes failed during the outage), the function URL answers throughout,
// the API again after, and a new submission runs.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { freePort, RedisServer, redisServerMissing } from '../support/redis-server.js';
import { missing } from '../support/services.js';
import { asyncClient, startStratus, type StratusProcess } from '../support/stratus-process.js';

const KEY = 'async-redis-restart-key-0123456789';
// An async call's event has `data`; a call on the function URL has none.
const CODE = 'export default async (event) => { const d = event.data ?? {}; await new Promise((r) => setTimeout(r, d.sleepMs ?? 0)); return { done: d.n ?? null }; };';

let platform: StratusProcess | undefined;
let redis: RedisServer | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await platform?.kill('SIGTERM'); // drains and removes its containers
  platform = undefined;
  await redis?.stop();
  redis = undefined;
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

const skip = (await missing('docker', 'registry', 'runtime-images')) || (await redisServerMissing());
describe.skipIf(skip)('async invocations across a Redis restart (own redis-server, Docker)', () => {
  it('reconnects by itself: the running and the queued invocations succeed with one record each, the URL and API answer', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-redis-data-'));
    const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-redis-restart-'));
    dirs.push(dataDir, stateDir);
    redis = new RedisServer(await freePort(), { dataDir });
    await redis.start();
    // One job at a time, so that one runs while the others wait in the queue when Redis goes.
    platform = await startStratus(KEY, {
      STRATUS_STATE_DIR: stateDir, STRATUS_STORE: 'redis', STRATUS_REDIS_URL: redis.url, STRATUS_BACKEND: 'docker',
      STRATUS_STEM_POOL_SIZE: '0', STRATUS_ASYNC_CONCURRENCY: '1',
    });
    const client = asyncClient(platform.url, KEY);
    const name = `redis-restart-${Date.now().toString(36)}`;
    const deployed = await deployFunction({ url: platform.url, apiKey: KEY }, { name, runtime: 'node', timeoutMs: 60_000 }, { file: 'index.mjs', content: CODE });
    expect(deployed.status).toBe(202);
    const build = await waitForBuild({ url: platform.url, apiKey: KEY }, ((await deployed.json()) as { buildId: string }).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
    const call = () => fetch(`${platform!.url}/fn/${name}/`, { method: 'POST', body: JSON.stringify({}), headers: { 'content-type': 'application/json' } });
    expect((await call()).status).toBe(200);

    // The slow one finishes while Redis is down: its result and its record have to wait for Redis.
    const slow = await client.submit(name, { n: 'slow', sleepMs: 2000 });
    expect((await client.until(slow, 'running')).status).toBe('running');
    const queued: string[] = [];
    for (let i = 0; i < 4; i++) queued.push(await client.submit(name, { n: `queued-${i}` }));
    expect((await client.view(queued[3]!)).status).toBe('queued');

    await redis.stop('SIGTERM'); // a clean shutdown: the append-only file has every job
    const stoppedAt = Date.now();
    // The data plane needs no Redis: a call answers during the outage (its record waits for Redis).
    const during = await call();
    expect(during.status).toBe(200);
    const duringId = during.headers.get('x-stratus-request-id');
    expect(duringId).toBeTruthy();
    // Down long enough for ioredis to fail the commands it held (it does after a few reconnect attempts,
    // ~6-8 s in), so that the record writes made during the outage do fail once.
    await new Promise((r) => setTimeout(r, Math.max(0, stoppedAt + 10_000 - Date.now())));
    expect(platform.child.exitCode).toBeNull();
    expect(platform.log()).toMatch(/invocation-record write failed/);
    await redis.start();

    const after = await client.submit(name, { n: 'after' });
    const all = [slow, ...queued, after];
    for (const id of all) {
      const v = await client.until(id, 'succeeded', 90_000);
      expect(v.status, `${id}: ${JSON.stringify(v)}\n${platform.log().slice(-3000)}`).toBe('succeeded');
    }
    expect(JSON.parse((await client.view(slow)).result!.body)).toEqual({ done: 'slow' });
    expect((await call()).status).toBe(200);
    expect((await client.api(`/v1/functions/${name}`)).status).toBe(200);

    // One record per invocation, each succeeded: writes that failed during the outage were made again.
    const records = await client.recordsUntil(name, '&trigger=async', all.length);
    expect(records.map((r) => r.id).sort()).toEqual([...all].sort());
    expect(records.every((r) => r.outcome === 'succeeded')).toBe(true);
    expect((await client.records(name, '&trigger=http')).map((r) => r.id)).toContain(duringId);
    await client.api(`/v1/functions/${name}`, { method: 'DELETE' });
  }, 300_000);
});
