// Signed code URLs (core/code-url.ts) and the Node runtime's unpacking of long names (pax headers, as
// tar-stream writes them for paths past 100 bytes: node_modules trees have many).

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeUrlKey, signCodePath, verifyCodePath } from '../../core/code-url.js';
import { packTree } from '../../scheduler/code/code-archives.js';
// @ts-expect-error plain JS of the runtime image, no types
import { unpackCode } from '../../runtime-images/node/code-fetch.mjs';

describe('signed code URLs', () => {
  const key = codeUrlKey('an admin key of at least sixteen');
  const now = 1_800_000_000_000;

  it('verifies what it signed until the expiry, and nothing else', () => {
    const p = signCodePath(key, 'hello-fn', 7, now + 10_000);
    expect(p).toMatch(/^\/internal\/code\/hello-fn\/7\?expires=1800000010&sig=[0-9a-f]{64}$/);
    expect(verifyCodePath(key, p, now)).toEqual({ ok: true, function: 'hello-fn', version: 7 });
    expect(verifyCodePath(key, p, now + 10_000)).toMatchObject({ ok: true });
    expect(verifyCodePath(key, p, now + 11_000)).toEqual({ ok: false, why: 'expired' });
    expect(verifyCodePath(codeUrlKey('another admin key entirely!!'), p, now)).toEqual({ ok: false, why: 'bad-signature' });
    expect(verifyCodePath(key, p.replace('/7?', '/8?'), now)).toEqual({ ok: false, why: 'bad-signature' });
    // An expired URL with a wrong signature says "bad signature": the expiry is only read once the URL is ours.
    expect(verifyCodePath(key, signCodePath(codeUrlKey('another admin key entirely!!'), 'hello-fn', 7, now - 5000), now)).toEqual({ ok: false, why: 'bad-signature' });
    for (const bad of ['/internal/code/hello-fn/7', '/internal/code/hello-fn/07?expires=1&sig=' + '0'.repeat(64), '/internal/code/a/b/7?expires=1&sig=' + '0'.repeat(64), '/other', '/internal/code/%E0%A4%A/1?expires=1&sig=' + '0'.repeat(64), `${p}x`]) {
      expect(verifyCodePath(key, bad, now), bad).toEqual({ ok: false, why: 'malformed' });
    }
  });

  it('the key is per platform admin key, and not the admin key', () => {
    expect(codeUrlKey('k'.repeat(20)).equals(codeUrlKey('k'.repeat(20)))).toBe(true);
    expect(codeUrlKey('k'.repeat(20)).equals(codeUrlKey('k'.repeat(21)))).toBe(false);
    expect(codeUrlKey('k'.repeat(32)).toString('utf8')).not.toContain('k'.repeat(32));
  });
});

describe('packing and unpacking a code tree', () => {
  it('round-trips long paths, modes and inside symlinks, byte for byte the same archive each time', async () => {
    const src = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-pack-'));
    const long = path.join('node_modules', 'a-package-with-a-rather-long-name', 'lib', 'and-a-deeply', 'nested-directory-structure', 'that-goes-past-the-100-byte-ustar-name-field');
    await fs.mkdir(path.join(src, long), { recursive: true });
    await fs.writeFile(path.join(src, long, 'module.js'), 'module.exports = 42;\n');
    await fs.writeFile(path.join(src, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
    await fs.mkdir(path.join(src, 'node_modules', '.bin'));
    await fs.symlink(path.join('..', 'a-package-with-a-rather-long-name', 'lib', 'index.js'), path.join(src, 'node_modules', '.bin', 'dangling'));
    await fs.symlink(path.join('..', long.split(path.sep).slice(1).join('/'), 'module.js'), path.join(src, 'node_modules', '.bin', 'mod'));
    const gz = await packTree(src, 10 * 1024 * 1024);
    expect((await packTree(src, 10 * 1024 * 1024)).equals(gz)).toBe(true);
    const out = (await unpackCode(gz, { maxUnpackedBytes: 1024 * 1024, maxEntries: 100 })) as string;
    try {
      expect(await fs.readFile(path.join(out, long, 'module.js'), 'utf8')).toBe('module.exports = 42;\n');
      expect((await fs.stat(path.join(out, 'run.sh'))).mode & 0o777).toBe(0o755);
      expect(await fs.readFile(path.join(out, 'node_modules', '.bin', 'mod'), 'utf8')).toBe('module.exports = 42;\n');
      await expect(fs.lstat(path.join(out, 'node_modules', '.bin', 'dangling'))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(packTree(src, 100)).rejects.toMatchObject({ code: 'INSTANCE_START_FAILED' });
    } finally {
      await fs.rm(out, { recursive: true, force: true });
      await fs.rm(src, { recursive: true, force: true });
    }
  });
});
