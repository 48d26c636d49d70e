// The ArtifactStore seam (core/ports/artifact-store.ts), one suite against both implementations: the
// directory (in-memory store, one process) always, Redis on real Redis (skipped outside CI when Redis is
// not running, failing in CI). Bytes come back exactly (binary, not text), a put replaces, a TTL forgets.

import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ArtifactStore } from '../../core/ports/artifact-store.js';
import { DirArtifactStore } from '../../core/store/artifacts-dir.js';
import { RedisArtifactStore } from '../../core/store/artifacts-redis.js';
import { REDIS_URL, missing } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';
import { until } from '../support/until.js';

function contract(store: () => ArtifactStore) {
  it('gives back exactly the bytes put, binary included; null for a key never put', async () => {
    const body = Buffer.concat([Buffer.from([0, 255, 13, 10, 0x80]), randomBytes(64 * 1024)]);
    await store().put('uploads/b1', body);
    expect((await store().get('uploads/b1'))?.equals(body)).toBe(true);
    expect(await store().get('uploads/none')).toBeNull();
  });

  it('replaces on put, and forgets on delete', async () => {
    await store().put('sources/f/b2', Buffer.from('one'));
    await store().put('sources/f/b2', Buffer.from('two'));
    expect((await store().get('sources/f/b2'))?.toString()).toBe('two');
    await store().delete('sources/f/b2');
    expect(await store().get('sources/f/b2')).toBeNull();
    await store().delete('sources/f/b2'); // deleting what is gone is no error
  });

  it('keeps keys apart that differ only by a dot or a slash', async () => {
    await store().put('a/b', Buffer.from('slash'));
    await store().put('a.b', Buffer.from('dot'));
    await store().put('a', Buffer.from('plain'));
    await store().put('a.expires', Buffer.from('suffix'), { ttlMs: 60_000 });
    expect((await store().get('a/b'))?.toString()).toBe('slash');
    expect((await store().get('a.b'))?.toString()).toBe('dot');
    expect((await store().get('a'))?.toString()).toBe('plain');
    expect((await store().get('a.expires'))?.toString()).toBe('suffix');
  });

  it('forgets a key after its TTL; a put without one keeps it', async () => {
    await store().put('uploads/short', Buffer.from('x'), { ttlMs: 50 });
    await store().put('uploads/kept', Buffer.from('y'), { ttlMs: 50 });
    await store().put('uploads/kept', Buffer.from('z'));
    await until('the short-lived key to be forgotten', async () => ((await store().get('uploads/short')) === null ? true : undefined), 5000);
    expect((await store().get('uploads/kept'))?.toString()).toBe('z');
  });
}

describe('DirArtifactStore', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-artifacts-'));
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));
  const s = new DirArtifactStore(dir);
  contract(() => s);

  it('writes nothing outside its directory, whatever the key', async () => {
    await s.put('../../escape', Buffer.from('x'));
    await s.put('..', Buffer.from('y'));
    expect((await s.get('..'))?.toString()).toBe('y');
    expect(await fs.readdir(path.dirname(dir))).not.toContain('escape');
  });
});

describe.skipIf(await missing('redis'))('RedisArtifactStore', () => {
  const prefix = `stratus-artifacts-${randomUUID()}:`;
  const s = new RedisArtifactStore(REDIS_URL, prefix);
  afterAll(async () => {
    await s.close();
    await removeRedisKeys(REDIS_URL, prefix);
  });
  contract(() => s);
});
