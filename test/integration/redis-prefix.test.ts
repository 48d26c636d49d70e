// Two Stratus on one Redis (issue 11, item 4): each started from its own state dir through startPlatform,
// so each takes the key prefix derived from its state dir, and neither lists, serves or deletes the
// other's functions — even one of the same name. Functions an older Stratus wrote without a prefix are
// moved at start to the platform whose state dir built them. The process backend keeps Docker out of it:
// the functions deployed here are records only (an image of one's own is never started).

import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { platformIdFor } from '../../core/platform-id.js';
import { LEGACY_PREFIX } from '../../core/store/redis-legacy.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { E2E_API_KEY } from '../support/e2e-config.js';
import { missing, REDIS_URL } from '../support/services.js';

const start = (stateDir: string) =>
  startPlatform(
    loadConfig({ STRATUS_PORT: '0', STRATUS_STATE_DIR: stateDir, STRATUS_API_KEY: E2E_API_KEY, STRATUS_STORE: 'redis', STRATUS_REDIS_URL: REDIS_URL, STRATUS_BACKEND: 'process', STRATUS_STEM_POOL_SIZE: '0', PATH: process.env.PATH }),
    silentLogger,
  );

const call = (p: RunningPlatform, pathname: string, init: RequestInit = {}) =>
  fetch(`${p.url}${pathname}`, { ...init, headers: { authorization: `Bearer ${p.apiKey}`, 'content-type': 'application/json', ...init.headers } });

const deployImage = (p: RunningPlatform, name: string) => call(p, '/v1/functions', { method: 'POST', body: JSON.stringify({ name, image: 'stratus-test/never-started:1' }) });

const names = async (p: RunningPlatform) => ((await (await call(p, '/v1/functions')).json()) as { functions: Array<{ name: string }> }).functions.map((f) => f.name).sort();

describe('STRATUS_REDIS_PREFIX', () => {
  it('defaults to the platform id of the state dir, like the container label, and can be set', () => {
    const dir = path.join(os.tmpdir(), 'stratus-prefix-a');
    expect(loadConfig({ STRATUS_STATE_DIR: dir }).store.redisPrefix).toBe(`${platformIdFor(dir)}:`);
    expect(loadConfig({ STRATUS_STATE_DIR: `${dir}-b` }).store.redisPrefix).not.toBe(loadConfig({ STRATUS_STATE_DIR: dir }).store.redisPrefix);
    expect(loadConfig({ STRATUS_STATE_DIR: dir, STRATUS_REDIS_PREFIX: 'team-a:' }).store.redisPrefix).toBe('team-a:');
    expect(() => loadConfig({ STRATUS_REDIS_PREFIX: 'a*' })).toThrow(/STRATUS_REDIS_PREFIX/);
  });
});

describe.skipIf(await missing('redis'))('two Stratus on one Redis', () => {
  const run = randomUUID().slice(0, 8);
  const fn = { a: `only-a-${run}`, b: `only-b-${run}`, same: `same-${run}`, legacy: `legacy-${run}` };
  let dirs: { a: string; b: string };
  let a: RunningPlatform;
  let b: RunningPlatform;
  const admin = new Redis(REDIS_URL);

  beforeAll(async () => {
    dirs = { a: await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-prefix-a-')), b: await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-prefix-b-')) };
    // What a Stratus from before prefixes left in Redis: a function built from A's state dir.
    const legacyVersion = { function: fn.legacy, version: 1, config: { name: fn.legacy, runtime: 'node', memoryMb: 128, timeoutMs: 1000, env: {}, concurrency: 1, minInstances: 0, maxInstances: 1, idleTtlMs: 60_000, network: 'egress' }, status: 'ready', image: null, artifactDir: path.join(dirs.a, 'artifacts', fn.legacy, 'v1'), handler: 'index.handler', buildId: null, createdAt: 't0' };
    const legacyFunction = { name: fn.legacy, config: legacyVersion.config, currentVersion: 1, latestVersion: 1, createdAt: 't0', updatedAt: 't0' };
    await admin.hset(`${LEGACY_PREFIX}functions`, fn.legacy, JSON.stringify(legacyFunction));
    await admin.hset(`${LEGACY_PREFIX}versions:${fn.legacy}`, '1', JSON.stringify(legacyVersion));
    await admin.set(`${LEGACY_PREFIX}version-counter:${fn.legacy}`, '1');
    a = await start(dirs.a);
    b = await start(dirs.b);
  });

  afterAll(async () => {
    for (const p of [a, b]) {
      if (!p) continue;
      for (const name of Object.values(fn)) await call(p, `/v1/functions/${name}`, { method: 'DELETE' });
      await p.stop();
    }
    await admin.hdel(`${LEGACY_PREFIX}functions`, fn.legacy);
    await admin.del(`${LEGACY_PREFIX}versions:${fn.legacy}`, `${LEGACY_PREFIX}version-counter:${fn.legacy}`);
    for (const dir of Object.values(dirs)) {
      const keys = await admin.keys(`${platformIdFor(dir)}:*`);
      if (keys.length > 0) await admin.del(...keys);
      await fs.rm(dir, { recursive: true, force: true });
    }
    await admin.quit();
  });

  it('each lists only its own functions, a name both use included', async () => {
    expect((await deployImage(a, fn.a)).status).toBe(201);
    expect((await deployImage(b, fn.b)).status).toBe(201);
    expect((await deployImage(a, fn.same)).status).toBe(201);
    expect((await deployImage(b, fn.same)).status).toBe(201);
    expect((await deployImage(b, fn.same)).status).toBe(201);
    expect(await names(a)).toEqual([fn.a, fn.legacy, fn.same].sort());
    expect(await names(b)).toEqual([fn.b, fn.same].sort());
    // Version numbers are counted per platform too.
    expect(await (await call(a, `/v1/functions/${fn.same}`)).json()).toMatchObject({ latestVersion: 1 });
    expect(await (await call(b, `/v1/functions/${fn.same}`)).json()).toMatchObject({ latestVersion: 2 });
  });

  it("neither shows, serves nor deletes the other's function", async () => {
    const shown = await call(b, `/v1/functions/${fn.a}`);
    expect(shown.status).toBe(404);
    expect(await shown.json()).toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
    const served = await fetch(`${b.url}/fn/${fn.a}`);
    expect(served.status).toBe(404);
    expect(await served.json()).toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
    expect((await call(b, `/v1/functions/${fn.a}`, { method: 'DELETE' })).status).toBe(404);
    expect((await call(b, `/v1/functions/${fn.same}`, { method: 'DELETE' })).status).toBe(204);
    expect(await names(a)).toContain(fn.a);
    expect(await names(a)).toContain(fn.same);
    expect(await names(b)).toEqual([fn.b]);
  });

  it('took over the unprefixed function its state dir built, and nothing of it is left under the old keys', async () => {
    expect(await (await call(a, `/v1/functions/${fn.legacy}`)).json()).toMatchObject({ name: fn.legacy, currentVersion: 1 });
    expect(await admin.hexists(`${LEGACY_PREFIX}functions`, fn.legacy)).toBe(0);
    expect(await admin.exists(`${LEGACY_PREFIX}versions:${fn.legacy}`, `${LEGACY_PREFIX}version-counter:${fn.legacy}`)).toBe(0);
    expect(await admin.get(`${platformIdFor(dirs.a)}:version-counter:${fn.legacy}`)).toBe('1');
  });
});
