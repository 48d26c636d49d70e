// Start-up choices: without Redis or Docker on the machine, Stratus falls back to its embedded defaults
// and says so loudly; when either is meant to be there (asked for, installed, or used before by this
// state dir) but does not answer, it waits — here with a bound, so the test ends — instead of falling back.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeConfig, loadConfig, type Config } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import { resolveApiKey } from '../../platform/boot/api-key.js';
import { openBackend } from '../../platform/boot/open-backend.js';
import { openStore } from '../../platform/boot/open-store.js';
import { markerPath } from '../../platform/boot/service-wait.js';

function recordingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: 'debug', write: (l) => lines.push(l) }) };
}

// Nothing listens on port 1, and no Docker socket lives in a fresh temp dir: both are "not reachable".
const NO_REDIS = 'redis://127.0.0.1:1';
let tmp: string | undefined;
afterEach(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  tmp = undefined;
});

/**
 * A machine without Redis: nothing answers at the default address and no redis-server is on PATH. This
 * machine runs Redis on the default port, so the "default" URL here points at port 1 instead — as a
 * Config value, since STRATUS_REDIS_URL in the environment would count as asking for Redis.
 */
async function withoutRedis(env: Record<string, string> = {}): Promise<Config> {
  tmp ??= await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-boot-'));
  const emptyBin = path.join(tmp, 'bin');
  await fs.mkdir(emptyBin, { recursive: true });
  const config = loadConfig({ STRATUS_STATE_DIR: path.join(tmp, 'state'), PATH: emptyBin, ...env });
  return { ...config, store: { ...config.store, redisUrl: NO_REDIS } };
}

describe('embedded defaults', () => {
  it('falls back to the in-memory store, loudly, when Redis is absent from the machine', async () => {
    const { lines, logger } = recordingLogger();
    const store = await openStore(await withoutRedis(), logger);
    expect(store.kind).toBe('memory');
    expect(lines.join('\n')).toMatch(/WARN .*FALLBACK.*IN-MEMORY store/);
    await store.close();
  });

  it('falls back to the process backend, loudly, when there is no Docker socket and Docker was never used here', async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-boot-'));
    const { lines, logger } = recordingLogger();
    const config = loadConfig({ STRATUS_STATE_DIR: tmp, STRATUS_DOCKER_SOCKET: path.join(tmp, 'no-docker.sock') });
    const { backend, docker } = await openBackend(config, 'test', logger);
    expect(backend.kind).toBe('process');
    expect(docker).toBeNull();
    expect(lines.join('\n')).toMatch(/WARN .*FALLBACK.*PROCESS backend/);
    await backend.close();
  });
});

describe('no fallback when the service is meant to be there', () => {
  // A short bound ends each wait: what matters is that it waited and did not fall back.
  const WAIT = { STRATUS_SERVICE_WAIT_MS: '1500' };
  const fast = { retryMs: 200, remindMs: 500 };

  async function expectWaitThenGiveUp(open: Promise<unknown>, lines: string[], field: string, because: RegExp): Promise<void> {
    await expect(open).rejects.toMatchObject({ code: 'INVALID_CONFIG', details: { field } });
    const log = lines.join('\n');
    expect(log).toMatch(/WARN .*WAITING for/);
    expect(log).toMatch(because);
    expect(log).not.toMatch(/FALLBACK/);
  }

  it('waits for Redis when STRATUS_STORE=redis', async () => {
    const { lines, logger } = recordingLogger();
    const config = await withoutRedis({ ...WAIT, STRATUS_STORE: 'redis' });
    await expectWaitThenGiveUp(openStore(config, logger, fast), lines, 'STRATUS_REDIS_URL', /because STRATUS_STORE=redis/);
  });

  it('waits for Redis when STRATUS_REDIS_URL is set', async () => {
    const { lines, logger } = recordingLogger();
    const config = await withoutRedis({ ...WAIT, STRATUS_REDIS_URL: NO_REDIS });
    await expectWaitThenGiveUp(openStore(config, logger, fast), lines, 'STRATUS_REDIS_URL', /because STRATUS_REDIS_URL is set/);
  });

  it('waits for Redis when this state dir used Redis before', async () => {
    const { lines, logger } = recordingLogger();
    const config = await withoutRedis(WAIT);
    await fs.mkdir(config.stateDir, { recursive: true });
    await fs.writeFile(markerPath(config.stateDir, 'redis'), 'used\n');
    await expectWaitThenGiveUp(openStore(config, logger, fast), lines, 'STRATUS_REDIS_URL', /used Redis before/);
  });

  it('waits for Redis when redis-server is installed', async () => {
    const { lines, logger } = recordingLogger();
    const config = await withoutRedis(WAIT);
    const bin = path.join(tmp!, 'bin', 'redis-server');
    await fs.writeFile(bin, '#!/bin/sh\n', { mode: 0o755 });
    await expectWaitThenGiveUp(openStore(config, logger, fast), lines, 'STRATUS_REDIS_URL', /redis-server is installed/);
  });

  it('waits for Docker when STRATUS_BACKEND=docker, even without a socket file', async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-boot-'));
    const { lines, logger } = recordingLogger();
    const config = loadConfig({ ...WAIT, STRATUS_STATE_DIR: tmp, STRATUS_BACKEND: 'docker', STRATUS_DOCKER_SOCKET: path.join(tmp, 'no-docker.sock') });
    await expectWaitThenGiveUp(openBackend(config, 'test', logger, fast), lines, 'STRATUS_DOCKER_SOCKET', /because STRATUS_BACKEND=docker/);
  });

  it('waits for Docker when its socket file exists but nothing answers on it', async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-boot-'));
    const { lines, logger } = recordingLogger();
    const socket = path.join(tmp, 'docker.sock');
    await fs.writeFile(socket, ''); // left behind, as a socket of a stopped daemon is
    const config = loadConfig({ ...WAIT, STRATUS_STATE_DIR: tmp, STRATUS_DOCKER_SOCKET: socket });
    await expectWaitThenGiveUp(openBackend(config, 'test', logger, fast), lines, 'STRATUS_DOCKER_SOCKET', /its socket .* exists/);
  });

  it('waits for Docker when this state dir used Docker before', async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-boot-'));
    const { lines, logger } = recordingLogger();
    await fs.writeFile(markerPath(tmp, 'docker'), 'used\n');
    const config = loadConfig({ ...WAIT, STRATUS_STATE_DIR: tmp, STRATUS_DOCKER_SOCKET: path.join(tmp, 'no-docker.sock') });
    await expectWaitThenGiveUp(openBackend(config, 'test', logger, fast), lines, 'STRATUS_DOCKER_SOCKET', /used Docker before/);
  });
});

describe('the admin API key', () => {
  it('is generated once, saved with mode 0600, and read back on the next start', async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-key-'));
    const { logger } = recordingLogger();
    const first = await resolveApiKey(undefined, tmp, logger);
    expect(first.source).toBe('generated');
    expect(first.key.length).toBeGreaterThanOrEqual(32);
    expect((await fs.stat(first.file)).mode & 0o777).toBe(0o600);
    const second = await resolveApiKey(undefined, tmp, logger);
    expect(second).toMatchObject({ source: 'file', key: first.key });
  });

  it('comes from STRATUS_API_KEY when set, and nothing is written', async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-key-'));
    const got = await resolveApiKey('operator-chosen-key-123', tmp, recordingLogger().logger);
    expect(got).toMatchObject({ source: 'env', key: 'operator-chosen-key-123' });
    expect(await fs.readdir(tmp)).toEqual([]);
  });

  it('an existing key file readable by others (0644) is made 0600, with a warning, and still used', async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-key-'));
    const file = path.join(tmp, 'api-key');
    await fs.writeFile(file, 'sk_an-existing-key-0123456789\n', { mode: 0o644 });
    await fs.chmod(file, 0o644); // whatever the umask
    const { lines, logger } = recordingLogger();
    const got = await resolveApiKey(undefined, tmp, logger);
    expect(got).toMatchObject({ source: 'file', key: 'sk_an-existing-key-0123456789' });
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(lines.join('\n')).toMatch(/WARN .*readable by others \(mode 644\)/);
  });

  it('a key file owned by another user is refused', async (ctx) => {
    // chown to another uid needs root; CI runs as root, so this runs there.
    if (process.getuid?.() !== 0) return ctx.skip();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-key-'));
    const file = path.join(tmp, 'api-key');
    await fs.writeFile(file, 'sk_planted-by-someone-else-0123\n', { mode: 0o600 });
    await fs.chown(file, 4242, 4242);
    await expect(resolveApiKey(undefined, tmp, recordingLogger().logger)).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/belongs to uid 4242/) });
  });

  it('a key file that is a symbolic link is refused', async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-key-'));
    await fs.writeFile(path.join(tmp, 'elsewhere'), 'sk_linked-key-0123456789abc\n');
    await fs.symlink(path.join(tmp, 'elsewhere'), path.join(tmp, 'api-key'));
    await expect(resolveApiKey(undefined, tmp, recordingLogger().logger)).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/symbolic link/) });
  });
});

describe('configuration', () => {
  it('names an unknown STRATUS_ setting and a bad value', () => {
    expect(() => loadConfig({ STRATUS_PROT: '80' })).toThrow(/unknown setting STRATUS_PROT/);
    expect(() => loadConfig({ STRATUS_PORT: 'eighty' })).toThrow(/STRATUS_PORT/);
    expect(() => loadConfig({ STRATUS_PANIC_WINDOW_MS: '90000' })).toThrow(/STRATUS_PANIC_WINDOW_MS: must not exceed STRATUS_STABLE_WINDOW_MS/);
  });

  it('is printed without secrets: no Redis password, no key, no environment', () => {
    const cfg = loadConfig({
      STRATUS_STORE: 'redis',
      STRATUS_REDIS_URL: 'redis://stratus:hunter2-redis-secret@10.0.0.5:6380/2?password=other-secret&db=2',
      STRATUS_API_KEY: 'operator-key-0123456789-secret',
      STRATUS_PUBLIC_URL: 'https://admin:url-secret@stratus.example.test/',
      PATH: '/opt/secret-looking/bin',
    });
    const printed = JSON.stringify(describeConfig(cfg));
    for (const secret of ['hunter2-redis-secret', 'other-secret', 'operator-key-0123456789-secret', 'url-secret', '/opt/secret-looking/bin', 'stratus:']) {
      expect(printed).not.toContain(secret);
    }
    expect(describeConfig(cfg)).toMatchObject({
      listen: '127.0.0.1:8080',
      backend: 'auto',
      store: 'redis',
      redis: 'redis://<credentials>@10.0.0.5:6380/2?password=<redacted>&db=2',
      stateDir: cfg.stateDir,
      apiKey: 'from STRATUS_API_KEY',
    });
  });

  it('has working defaults', () => {
    const cfg = loadConfig({});
    expect(cfg.port).toBe(8080);
    expect(cfg.images.registry).toBe('127.0.0.1:5000');
    expect(cfg.scheduler.stableWindowMs).toBe(60_000);
  });
});
