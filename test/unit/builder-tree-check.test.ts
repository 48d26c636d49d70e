import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkTree, TreeViolation } from '../../builder/tree-check.js';

const LIMITS = { maxEntries: 50, maxUnpackedBytes: 1024 * 1024 };
let sandbox: string;
let tree: string;

beforeEach(() => {
  sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-tree-'));
  tree = path.join(sandbox, 'code');
  fs.mkdirSync(path.join(tree, 'node_modules/pkg/bin'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'index.js'), 'module.exports = 1');
  fs.writeFileSync(path.join(tree, 'node_modules/pkg/bin/cli.js'), '#!/usr/bin/env node');
});
afterEach(() => fs.rmSync(sandbox, { recursive: true, force: true }));

const check = (limits = LIMITS) => checkTree(tree, limits, 'the dependency install');
const put = (rel: string, make: (abs: string) => void) => {
  const abs = path.join(tree, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  make(abs);
};
async function violation(): Promise<string> {
  const err = await check().then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(TreeViolation);
  return (err as Error).message;
}

describe('checkTree (what an install left)', () => {
  it('accepts what npm makes: folders, files, relative links inside (.bin), hard links within the tree', async () => {
    put('node_modules/.bin/cli', (p) => fs.symlinkSync('../pkg/bin/cli.js', p));
    put('node_modules/pkg/self', (p) => fs.symlinkSync('.', p));
    put('copy.js', (p) => fs.linkSync(path.join(tree, 'index.js'), p));
    // Dangling but lexically inside: it can only ever point into the tree.
    put('node_modules/.bin/gone', (p) => fs.symlinkSync('../nowhere/x', p));
    expect(await check()).toEqual({ entries: 10, bytes: 2 * 18 + 19 });
  });

  it.each([
    ['/etc/passwd'],
    ['/'],
    ['../../../../etc'],
    ['../../..'],
  ])('refuses a symlink to %s', async (target) => {
    put('node_modules/evil/link', (p) => fs.symlinkSync(target, p));
    expect(await violation()).toBe(`the dependency install left "node_modules/evil/link", a symlink to ${JSON.stringify(target)}, outside the code; a build may not link out of its tree`);
  });

  it('refuses a link that leaves only through another link', async () => {
    // Each lexically inside; together they resolve to the tree's parent.
    put('a/up', (p) => fs.symlinkSync('..', p));
    put('a/b', (p) => fs.symlinkSync('up/a/up/..', p));
    fs.symlinkSync(sandbox, path.join(sandbox, 'loop')); // noise outside the tree must not matter
    const msg = await violation();
    expect(msg).toMatch(/"a\/b", a symlink to "up\/a\/up\/\.\.", outside the code/);
  });

  it('refuses a file hard-linked to one outside the tree', async () => {
    fs.writeFileSync(path.join(sandbox, 'outside-secret'), 'secret');
    put('node_modules/evil/secret', (p) => fs.linkSync(path.join(sandbox, 'outside-secret'), p));
    expect(await violation()).toMatch(/"node_modules\/evil\/secret" hard-linked to a file outside the code \(2 links, 1 inside\)/);
  });

  it('refuses a fifo and a unix socket', async () => {
    put('node_modules/evil/pipe', (p) => execFileSync('mkfifo', [p]));
    expect(await violation()).toMatch(/"node_modules\/evil\/pipe", a named pipe \(fifo\); a build may only leave files, folders and links/);
    fs.rmSync(path.join(tree, 'node_modules/evil/pipe'));
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(tree, 'node_modules/evil/sock'), resolve));
    try {
      expect(await violation()).toMatch(/"node_modules\/evil\/sock", a unix socket/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a device file', async () => {
    put('node_modules/evil/null', (p) => execFileSync('mknod', [p, 'c', '1', '3']));
    expect(await violation()).toMatch(/"node_modules\/evil\/null", a character device file/);
  });

  it('holds the tree to the upload limits: entries and bytes', async () => {
    for (let i = 0; i < 60; i++) put(`node_modules/many/f${i}`, (p) => fs.writeFileSync(p, ''));
    expect(await violation()).toMatch(/left more than 50 files and folders, the limit \(STRATUS_MAX_ARCHIVE_ENTRIES\)/);
    fs.rmSync(path.join(tree, 'node_modules/many'), { recursive: true });
    put('node_modules/big.bin', (p) => fs.writeFileSync(p, Buffer.alloc(1024 * 1024)));
    expect(await violation()).toMatch(/left more than 1 MB of files, the limit \(STRATUS_MAX_UNPACKED_MB\)/);
  });
});
