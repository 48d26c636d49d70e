// Start-up with Redis or Docker configured but not answering yet waits for them and proceeds once they
// answer — it does not fall back to the in-memory store or to running functions on the host. The
// services here are real servers started late: a redis-server on a free port, and an HTTP server on a
// unix socket that answers Docker's /_ping only after a while (what a starting dockerd looks like).

import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import { openBackend } from '../../platform/boot/open-backend.js';
import { openStore } from '../../platform/boot/open-store.js';
import { markerPath } from '../../platform/boot/service-wait.js';
import { freePort, RedisServer, redisServerMissing } from '../support/redis-server.js';

const LATE_MS = 2500;
const fast = { retryMs: 200, remindMs: 1000 };

function recordingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: 'debug', write: (l) => lines.push(l) }) };
}

/** Docker's /_ping answered by a server of ours: 503 until `ready`, then 200 "OK" as dockerd does. */
class LateDocker {
  ready = false;
  pings = 0;
  readonly server = http.createServer((req, res) => {
    if (req.url !== '/_ping') return res.writeHead(404).end();
    this.pings++;
    if (!this.ready) return res.writeHead(503, { 'content-type': 'text/plain' }).end('starting');
    res.writeHead(200, { 'content-type': 'text/plain', 'api-version': '1.43' }).end('OK');
  });
  constructor(readonly socketPath: string) {}
  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let tmp: string;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-bootwait-'));
  cleanups.push(() => fs.rm(tmp, { recursive: true, force: true }));
  return tmp;
}

const later = (ms: number, fn: () => unknown) => new Promise<void>((resolve, reject) => setTimeout(() => Promise.resolve().then(fn).then(() => resolve(), reject), ms));

describe('start-up waits for a Docker that is there but not answering yet', () => {
  it('its socket exists (STRATUS_BACKEND=auto): waits, then opens the Docker backend once /_ping answers', async () => {
    const dir = await tempDir();
    const docker = new LateDocker(path.join(dir, 'docker.sock'));
    await docker.listen();
    cleanups.push(() => docker.close());
    const { lines, logger } = recordingLogger();
    const config = loadConfig({ STRATUS_STATE_DIR: path.join(dir, 'state'), STRATUS_DOCKER_SOCKET: docker.socketPath });
    const ready = later(LATE_MS, () => (docker.ready = true));
    const opened = await openBackend(config, 'bootwait', logger, fast);
    await ready;
    cleanups.push(() => opened.backend.close());
    expect(opened.backend.kind).toBe('docker');
    expect(opened.docker).not.toBeNull();
    expect(docker.pings).toBeGreaterThan(1);
    const log = lines.join('\n');
    expect(log).toMatch(/WAITING for Docker on .*docker\.sock/);
    expect(log).not.toMatch(/FALLBACK|PROCESS backend/);
    // Used once: a later start over this state dir waits for Docker even if its socket is gone then.
    await expect(fs.readFile(markerPath(config.stateDir, 'docker'), 'utf8')).resolves.toMatch(/used Docker/);
  });

  it('STRATUS_BACKEND=docker and no socket yet: waits until the socket appears and answers', async () => {
    const dir = await tempDir();
    const docker = new LateDocker(path.join(dir, 'docker.sock'));
    docker.ready = true;
    const { lines, logger } = recordingLogger();
    const config = loadConfig({ STRATUS_STATE_DIR: path.join(dir, 'state'), STRATUS_BACKEND: 'docker', STRATUS_DOCKER_SOCKET: docker.socketPath });
    const listening = later(LATE_MS, () => docker.listen());
    cleanups.push(async () => {
      await listening;
      await docker.close();
    });
    const opened = await openBackend(config, 'bootwait', logger, fast);
    cleanups.push(() => opened.backend.close());
    expect(opened.backend.kind).toBe('docker');
    expect(lines.join('\n')).toMatch(/WAITING for Docker.*because STRATUS_BACKEND=docker/);
  });
});

describe.skipIf(await redisServerMissing())('start-up waits for a Redis that is configured but not answering yet', () => {
  it('STRATUS_REDIS_URL on a port where redis-server starts later: waits, then opens the Redis store', async () => {
    const dir = await tempDir();
    const redis = new RedisServer(await freePort());
    cleanups.push(() => redis.stop());
    const { lines, logger } = recordingLogger();
    const config = loadConfig({ STRATUS_STATE_DIR: path.join(dir, 'state'), STRATUS_REDIS_URL: redis.url });
    const started = later(LATE_MS, () => redis.start());
    const store = await openStore(config, logger, fast);
    cleanups.push(() => store.close());
    await started;
    expect(store.kind).toBe('redis');
    expect(await store.listFunctions()).toEqual([]);
    const log = lines.join('\n');
    expect(log).toMatch(/WAITING for Redis at redis:\/\/127\.0\.0\.1:\d+.*because STRATUS_REDIS_URL is set/);
    expect(log).not.toMatch(/FALLBACK|IN-MEMORY/);
  });

  it('a state dir that used Redis before waits for it with the default settings', async () => {
    const dir = await tempDir();
    const redis = new RedisServer(await freePort());
    cleanups.push(() => redis.stop());
    const stateDir = path.join(dir, 'state');
    await fs.mkdir(stateDir);
    await fs.writeFile(markerPath(stateDir, 'redis'), 'used\n');
    const { lines, logger } = recordingLogger();
    // No STRATUS_REDIS_URL and no redis-server on PATH: only the marker says Redis belongs here. The
    // default address is this machine's own Redis, so the config value points at the late one instead.
    const base = loadConfig({ STRATUS_STATE_DIR: stateDir, PATH: path.join(dir, 'no-bin') });
    const config = { ...base, store: { ...base.store, redisUrl: redis.url } };
    const started = later(LATE_MS, () => redis.start());
    const store = await openStore(config, logger, fast);
    cleanups.push(() => store.close());
    await started;
    expect(store.kind).toBe('redis');
    expect(lines.join('\n')).toMatch(/WAITING for Redis.*used Redis before/);
  });
});
