import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isStratusError } from '../../core/errors.js';
import { extractUpload, type ExtractLimits } from '../../builder/extract.js';
import { makeTar, makeZip } from '../fixtures/archives/make-archives.js';

const LIMITS: ExtractLimits = { maxEntries: 100, maxUnpackedBytes: 10 * 1024 * 1024, maxCompressionRatio: 200 };

let sandbox: string;
beforeEach(() => {
  sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-extract-'));
});
afterEach(() => {
  fs.rmSync(sandbox, { recursive: true, force: true });
});

/** Everything in the sandbox outside `out/`: must stay exactly the upload itself. */
function outsideTree(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (p === path.join(sandbox, 'out')) continue;
      found.push(path.relative(sandbox, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(sandbox);
  return found.sort();
}

async function extract(bytes: Buffer, name: string, limits: ExtractLimits = LIMITS) {
  const src = path.join(sandbox, name);
  fs.writeFileSync(src, bytes);
  return extractUpload(src, name, path.join(sandbox, 'out'), limits);
}

async function refusal(bytes: Buffer, name: string, limits: ExtractLimits = LIMITS): Promise<string> {
  const err = await extract(bytes, name, limits).then(
    () => null,
    (e: unknown) => e,
  );
  expect(isStratusError(err), `expected a BAD_ARCHIVE, got ${String(err)}`).toBe(true);
  if (!isStratusError(err)) throw err;
  expect(err.code).toBe('BAD_ARCHIVE');
  expect(err.status).toBe(422);
  expect(err.details.field).toBe('code');
  // Nothing written outside the target, and the half-extracted target itself is gone.
  expect(outsideTree()).toEqual([name]);
  expect(fs.existsSync(path.join(sandbox, 'out'))).toBe(false);
  fs.rmSync(path.join(sandbox, name));
  return err.message;
}

describe('extractUpload refuses unsafe uploads', () => {
  it('path traversal in a zip', async () => {
    const msg = await refusal(makeZip([{ name: 'ok.js', data: 'x' }, { name: '../evil.txt', data: 'pwned' }]), 'up.zip');
    expect(msg).toMatch(/path traversal/);
  });

  it('path traversal in a tar.gz, also hidden mid-path', async () => {
    const msg = await refusal(await makeTar([{ name: 'a/../../evil.txt', data: 'pwned' }], true), 'up.tar.gz');
    expect(msg).toMatch(/path traversal/);
  });

  it('backslash traversal in a zip (Windows separators)', async () => {
    const msg = await refusal(makeZip([{ name: '..\\evil.txt', data: 'pwned' }]), 'up.zip');
    expect(msg).toMatch(/path traversal/);
  });

  it('absolute paths', async () => {
    expect(await refusal(makeZip([{ name: '/tmp/evil.txt', data: 'x' }]), 'up.zip')).toMatch(/absolute path/);
    expect(await refusal(await makeTar([{ name: 'C:/evil.txt', data: 'x' }]), 'up.tar')).toMatch(/absolute path/);
  });

  it('symlinks pointing outside the tree, relative or absolute', async () => {
    const rel = await refusal(await makeTar([{ name: 'link', type: 'symlink', linkname: '../../etc' }]), 'up.tar');
    expect(rel).toMatch(/symlink "link" points outside/);
    const abs = await refusal(makeZip([{ name: 'link', data: '/etc/passwd', mode: 0o120777 }]), 'up.zip');
    expect(abs).toMatch(/absolute target/);
  });

  it('symlink chains that escape only when followed', async () => {
    const items = [
      { name: 's', type: 'symlink' as const, linkname: '.' },
      { name: 't', type: 'symlink' as const, linkname: 's/../x' },
    ];
    // t looks inside ("x") lexically, but s/.. through the link s is the parent of the tree.
    expect(await refusal(await makeTar(items), 'up.tar')).toMatch(/symlink/);
  });

  it('never writes through a link: a file below a symlinked folder clashes', async () => {
    const items = [
      { name: 'sub/', type: 'directory' as const },
      { name: 'd', type: 'symlink' as const, linkname: 'sub' },
      { name: 'd/x.txt', data: 'through the link' },
    ];
    expect(await refusal(await makeTar(items), 'up.tar')).toMatch(/clashes/);
  });

  it('hard links pointing outside the tree', async () => {
    const msg = await refusal(await makeTar([{ name: 'h', type: 'link', linkname: '../../etc/passwd' }]), 'up.tar');
    expect(msg).toMatch(/hard link "h" points outside/);
  });

  it('special files: fifo, devices', async () => {
    expect(await refusal(await makeTar([{ name: 'p', type: 'fifo' }]), 'up.tar')).toMatch(/is a fifo/);
    expect(await refusal(await makeTar([{ name: 'null', type: 'character-device' }]), 'up.tar')).toMatch(/character device/);
    expect(await refusal(makeZip([{ name: 'p', mode: 0o010644 }]), 'up.zip')).toMatch(/is a fifo/);
  });

  it('too many entries, zip and tar', async () => {
    const limits = { ...LIMITS, maxEntries: 3 };
    const names = ['a.js', 'b.js', 'c.js', 'd.js', 'e.js'];
    expect(await refusal(makeZip(names.map((name) => ({ name, data: 'x' }))), 'up.zip', limits)).toMatch(/more than 3 entries/);
    expect(await refusal(await makeTar(names.map((name) => ({ name, data: 'x' }))), 'up.tar', limits)).toMatch(/more than 3 entries/);
  });

  it('too large once unpacked, counted from the bytes and not from headers', async () => {
    const limits = { ...LIMITS, maxUnpackedBytes: 1024 * 1024 };
    const big = crypto.randomBytes(1024 * 1024 + 10); // incompressible: the size limit, not the ratio, must trip
    expect(await refusal(await makeTar([{ name: 'big.js', data: big }], true), 'up.tgz', limits)).toMatch(/unpacks to more than 1 MB/);
    // A zip that claims a tiny size in its headers still fails: yauzl checks the real byte count.
    expect(await refusal(makeZip([{ name: 'big.js', data: big, claimedSize: 10 }]), 'up.zip', limits)).toMatch(/unpacks to more than|corrupt/);
  });

  it('compression ratio past the limit (zip bomb, gzip bomb)', async () => {
    const limits = { ...LIMITS, maxCompressionRatio: 20 };
    const zeros = Buffer.alloc(4 * 1024 * 1024);
    expect(await refusal(makeZip([{ name: 'z.bin', data: zeros }]), 'bomb.zip', limits)).toMatch(/expands more than 20 times/);
    expect(await refusal(await makeTar([{ name: 'z.bin', data: zeros }], true), 'bomb.tar.gz', limits)).toMatch(/expands more than 20 times/);
  });

  it('uploads that are neither an archive nor a source file', async () => {
    expect(await refusal(Buffer.from('just some notes'), 'notes.txt')).toMatch(/neither an archive/);
    expect(await refusal(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]), 'hello.js')).toMatch(/neither an archive/);
    expect(await refusal(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1]), 'code.tar.xz')).toMatch(/xz archives are not supported/);
  });

  it('corrupt archives', async () => {
    const gz = zlib.gzipSync(Buffer.from('not a tar at all, just text'.repeat(30)));
    expect(await refusal(gz, 'up.tar.gz')).toMatch(/does not hold a readable tar/);
    const zip = makeZip([{ name: 'a.js', data: 'console.log(1)' }]);
    expect(await refusal(zip.subarray(0, zip.length - 30), 'up.zip')).toMatch(/zip/);
  });

  it('an empty archive', async () => {
    expect(await refusal(makeZip([]), 'up.zip')).toMatch(/holds no files/);
  });
});

describe('extractUpload unpacks good uploads', () => {
  it('detects the format by content, not by name', async () => {
    const res = await extract(await makeTar([{ name: 'index.js', data: 'export default () => 1' }], true), 'code.zip');
    expect(res.kind).toBe('tar.gz');
    expect(fs.readFileSync(path.join(res.dir, 'index.js'), 'utf8')).toBe('export default () => 1');
  });

  it('a single source file is saved under its own name', async () => {
    const res = await extract(Buffer.from('export default () => "hi"'), 'hello.js');
    expect(res).toMatchObject({ kind: 'file', singleFile: 'hello.js', entries: 1 });
    expect(fs.readdirSync(res.dir)).toEqual(['hello.js']);
  });

  it('strips a single top-level folder (GitHub zips) and skips __MACOSX debris', async () => {
    const zip = makeZip([
      { name: 'repo-main/', mode: 0o040755 },
      { name: 'repo-main/index.js', data: 'export default 1' },
      { name: 'repo-main/lib/util.js', data: 'x' },
      { name: '__MACOSX/repo-main/._index.js', data: 'junk' },
    ]);
    const res = await extract(zip, 'repo-main.zip');
    expect(fs.readdirSync(res.dir).sort()).toEqual(['index.js', 'lib']);
    expect(fs.readFileSync(path.join(res.dir, 'lib/util.js'), 'utf8')).toBe('x');
    expect(outsideTree()).toEqual(['repo-main.zip']);
  });

  it('keeps two top-level entries as they are', async () => {
    const res = await extract(await makeTar([{ name: 'a/x.js', data: '1' }, { name: 'b.js', data: '2' }]), 'up.tar');
    expect(fs.readdirSync(res.dir).sort()).toEqual(['a', 'b.js']);
  });

  it('files end up world-readable, 0644 or 0755, whatever the archive said', async () => {
    const tar = await makeTar([
      { name: 'run.sh', data: '#!/bin/sh', mode: 0o700 },
      { name: 'secret.js', data: 'x', mode: 0o600 },
      { name: 'a/b.js', data: 'x', mode: 0o666 },
    ]);
    const res = await extract(tar, 'up.tar');
    const mode = (p: string) => fs.statSync(path.join(res.dir, p)).mode & 0o777;
    expect(mode('run.sh')).toBe(0o755);
    expect(mode('secret.js')).toBe(0o644);
    expect(mode('a/b.js')).toBe(0o644);
    expect(mode('a')).toBe(0o755);
  });

  it('keeps symlinks and hard links that stay inside the tree', async () => {
    const tar = await makeTar([
      { name: 'lib/real.js', data: 'real' },
      { name: 'alias.js', type: 'symlink', linkname: 'lib/real.js' },
      { name: 'copy.js', type: 'link', linkname: 'lib/real.js' },
    ]);
    const res = await extract(tar, 'up.tar');
    expect(fs.readlinkSync(path.join(res.dir, 'alias.js'))).toBe('lib/real.js');
    expect(fs.readFileSync(path.join(res.dir, 'copy.js'), 'utf8')).toBe('real');
  });

  it('a zip with unix modes and nested folders', async () => {
    const zip = makeZip([
      { name: 'index.js', data: 'export default 1' },
      { name: 'bin/tool', data: '#!/bin/sh', mode: 0o100755 },
      { name: 'data/x.json', data: '{}', stored: true },
    ]);
    const res = await extract(zip, 'up.zip');
    expect(res.kind).toBe('zip');
    expect(fs.statSync(path.join(res.dir, 'bin/tool')).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(path.join(res.dir, 'data/x.json'), 'utf8')).toBe('{}');
  });
});
