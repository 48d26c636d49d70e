// What `stratus deploy` uploads: .stratusignore read with .gitignore's rules, node_modules left out by
// default (and sent when .stratusignore says `!node_modules/`), .git and .stratus never, and the archive
// holding exactly the listed files with their bytes, modes and symlinks.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../../cli/errors.js';
import { listForPack, packDirectory } from '../../cli/pack.js';

let dir: string;

async function write(files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), content);
  }
}

const fileNames = async () => (await listForPack(dir)).entries.filter((e) => e.type === 'file').map((e) => e.name);

async function unpack(archive: Buffer): Promise<Map<string, { type: string; mode: number; content: string; linkname: string | null }>> {
  const out = new Map<string, { type: string; mode: number; content: string; linkname: string | null }>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        out.set(header.name, { type: header.type ?? 'file', mode: header.mode ?? 0, content: Buffer.concat(chunks).toString(), linkname: header.linkname ?? null });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(zlib.gunzipSync(archive));
  await done;
  return out;
}

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-cli-pack-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('stratus deploy: what is packed', () => {
  it('reads .stratusignore with gitignore rules: directory patterns, globs, negations, anchors, comments', async () => {
    await write({
      '.stratusignore': '# local only\nsecrets/\n*.md\n!KEEP.md\n/build\n*.log\n',
      'index.js': 'x',
      'README.md': 'x',
      'KEEP.md': 'x',
      'docs/guide.md': 'x',
      'secrets/token.txt': 'x',
      'lib/secrets/nested.txt': 'x',
      'build/out.js': 'x',
      'lib/build/kept.js': 'x',
      'lib/debug.log': 'x',
    });
    expect(await fileNames()).toEqual(['.stratusignore', 'KEEP.md', 'index.js', 'lib/build/kept.js'].sort());
    const { ignored } = await listForPack(dir);
    expect(ignored).toEqual(expect.arrayContaining(['secrets/', 'lib/secrets/', 'README.md', 'docs/guide.md', 'build/', 'lib/debug.log']));
  });

  it('leaves node_modules out at any depth by default, and sends it when .stratusignore says !node_modules/', async () => {
    await write({ 'index.js': 'x', 'node_modules/a/index.js': 'x', 'lib/node_modules/b/index.js': 'x' });
    expect(await fileNames()).toEqual(['index.js']);
    await write({ '.stratusignore': '!node_modules/\n' });
    expect(await fileNames()).toEqual(['.stratusignore', 'index.js', 'lib/node_modules/b/index.js', 'node_modules/a/index.js']);
  });

  it('never sends .git or .stratus (a state dir holds the admin key), whatever .stratusignore says', async () => {
    await write({ '.stratusignore': '!.git/\n!.stratus/\n', 'index.js': 'x', '.git/HEAD': 'ref', '.stratus/api-key': 'sk_secret', 'sub/.git/config': 'x' });
    const listing = await listForPack(dir);
    expect(listing.entries.map((e) => e.name)).toEqual(['.stratusignore', 'index.js', 'sub']);
    expect(listing.alwaysLeftOut).toEqual(['.git/', '.stratus/', 'sub/.git/']);
  });

  it('packs exactly the listed files with their bytes, exec bits and symlinks', async () => {
    await write({ '.stratusignore': 'notes.txt\n', 'index.js': 'export default () => 1;\n', 'bin/run.sh': '#!/bin/sh\n', 'notes.txt': 'private' });
    await fs.chmod(path.join(dir, 'bin/run.sh'), 0o755);
    await fs.symlink('index.js', path.join(dir, 'alias.js'));
    const packed = await packDirectory(dir);
    expect(packed.files).toBe(3);
    const entries = await unpack(packed.archive);
    expect([...entries.keys()].sort()).toEqual(['.stratusignore', 'alias.js', 'bin/', 'bin/run.sh', 'index.js']);
    expect(entries.get('index.js')?.content).toBe('export default () => 1;\n');
    expect(entries.get('bin/run.sh')?.mode).toBe(0o755);
    expect(entries.get('alias.js')).toMatchObject({ type: 'symlink', linkname: 'index.js' });
  });

  it('refuses a directory where nothing would be uploaded, as a usage error naming what was left out', async () => {
    await write({ '.stratusignore': '*\n', 'index.js': 'x' });
    const err = await packDirectory(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.usage);
    expect((err as CliError).message).toMatch(/nothing to deploy .*\.stratusignore, index\.js/);
  });
});
