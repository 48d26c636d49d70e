// Start-up choices: without Redis or Docker, Stratus falls back to its embedded defaults and says so
// loudly; when the operator asked for Redis or Docker explicitly, it refuses to start instead.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import { resolveApiKey } from '../../gateway/boot/api-key.js';
import { openBackend } from '../../gateway/boot/open-backend.js';
import { openStore } from '../../gateway/boot/open-store.js';

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

describe('embedded defaults', () => {
  it('falls back to the in-memory store, loudly, when Redis is not reachable', async () => {
    const { lines, logger } = recordingLogger();
    const store = await openStore({ kind: 'auto', redisUrl: NO_REDIS }, logger);
    expect(store.kind).toBe('memory');
    expect(lines.join('\n')).toMatch(/WARN .*FALLBACK.*IN-MEMORY store/);
    await store.close();
  });

  it('refuses to start when STRATUS_STORE=redis and Redis is not reachable', async () => {
    const { logger } = recordingLogger();
    await expect(openStore({ kind: 'redis', redisUrl: NO_REDIS }, logger)).rejects.toMatchObject({ code: 'INVALID_CONFIG', details: { field: 'STRATUS_REDIS_URL' } });
  });

  it('falls back to the process backend, loudly, when Docker does not answer', async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-boot-'));
    const { lines, logger } = recordingLogger();
    const config = loadConfig({ STRATUS_STATE_DIR: tmp, STRATUS_DOCKER_SOCKET: path.join(tmp, 'no-docker.sock') });
    const { backend, docker } = await openBackend(config, 'test', logger);
    expect(backend.kind).toBe('process');
    expect(docker).toBeNull();
    expect(lines.join('\n')).toMatch(/WARN .*FALLBACK.*PROCESS backend/);
    await backend.close();
  });

  it('refuses to start when STRATUS_BACKEND=docker and Docker does not answer', async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-boot-'));
    const config = loadConfig({ STRATUS_STATE_DIR: tmp, STRATUS_BACKEND: 'docker', STRATUS_DOCKER_SOCKET: path.join(tmp, 'no-docker.sock') });
    await expect(openBackend(config, 'test', recordingLogger().logger)).rejects.toMatchObject({ code: 'INVALID_CONFIG', details: { field: 'STRATUS_DOCKER_SOCKET' } });
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
});

describe('configuration', () => {
  it('names an unknown STRATUS_ setting and a bad value', () => {
    expect(() => loadConfig({ STRATUS_PROT: '80' })).toThrow(/unknown setting STRATUS_PROT/);
    expect(() => loadConfig({ STRATUS_PORT: 'eighty' })).toThrow(/STRATUS_PORT/);
    expect(() => loadConfig({ STRATUS_PANIC_WINDOW_MS: '90000' })).toThrow(/STRATUS_PANIC_WINDOW_MS: must not exceed STRATUS_STABLE_WINDOW_MS/);
  });

  it('has working defaults', () => {
    const cfg = loadConfig({});
    expect(cfg.port).toBe(8080);
    expect(cfg.images.registry).toBe('127.0.0.1:5000');
    expect(cfg.scheduler.stableWindowMs).toBe(60_000);
  });
});
