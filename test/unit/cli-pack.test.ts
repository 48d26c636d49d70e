// What `stratus deploy` uploads: .stratusignore read with .gitignore's rules, node_modules left out by
// default (and sent when .stratusignore says `!node_modules/`), .git and .stratus never, files that look
// like secrets left out at any depth unless a `!` line sends one, .gitignore only through an
// `#!include:` line, and the archive holding exactly the listed files with their bytes, modes and symlinks.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../../cli/errors.js';
import { secretsNote } from '../../cli/commands/deploy.js';
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

  it('leaves out files that look like secrets at any depth, and names each in the note', async () => {
    await write({
      'index.js': 'x',
      '.env': 'TOKEN=1',
      '.env.production': 'TOKEN=2',
      '.env.local': 'TOKEN=3',
      '.env.example': 'TOKEN=',
      '.envrc': 'export TOKEN=4',
      '.npmrc': '//registry.example.test/:_authToken=npm_x',
      '.pypirc': 'x',
      '.netrc': 'machine example.test password x',
      '.git-credentials': 'https://u:p@example.test',
      'key.pem': '-----BEGIN PRIVATE KEY-----',
      'tls/server.key': 'x',
      'tls/server.crt': 'public',
      'cert.p12': 'x',
      'cert.pfx': 'x',
      'id_rsa': 'x',
      'id_rsa.pub': 'public',
      'deploy/id_ed25519': 'x',
      '.aws/credentials': 'x',
      '.ssh/config': 'x',
      'home/.docker/config.json': '{"auths":{}}',
      'docker/config.json': '{"kept": true}',
      'vault.kdbx': 'x',
      'credentials.json': '{}',
      'gcp/service-account-prod.json': '{}',
      'config/.env': 'NESTED=1',
      'config/settings.json': '{}',
      'deep/er/still/.npmrc': 'x',
      'environment.js': 'not a dotenv file',
    });
    const listing = await listForPack(dir);
    expect(listing.entries.filter((e) => e.type === 'file').map((e) => e.name)).toEqual(
      ['.env.example', 'config/settings.json', 'docker/config.json', 'environment.js', 'id_rsa.pub', 'index.js', 'tls/server.crt'].sort(),
    );
    expect([...listing.secrets].sort()).toEqual(
      [
        '.aws/', '.env', '.env.local', '.env.production', '.envrc', '.git-credentials', '.netrc', '.npmrc', '.pypirc', '.ssh/', 'cert.p12', 'cert.pfx',
        'config/.env', 'credentials.json', 'deep/er/still/.npmrc', 'deploy/id_ed25519', 'gcp/service-account-prod.json', 'home/.docker/config.json',
        'id_rsa', 'key.pem', 'tls/server.key', 'vault.kdbx',
      ].sort(),
    );
    expect(listing.ignored).toEqual([]);
    // And the archive itself, not only the listing, holds none of them.
    const entries = await unpack((await packDirectory(dir)).archive);
    for (const s of listing.secrets) expect([...entries.keys()].some((k) => k === s || k.startsWith(s.endsWith('/') ? s : `${s}/`))).toBe(false);
    expect(entries.get('config/settings.json')?.content).toBe('{}');

    const note = secretsNote(listing.secrets);
    for (const s of listing.secrets.slice(0, 20)) expect(note).toContain(s);
    expect(note).toMatch(/^left out 22 paths that look like secrets: \.aws\/, \.env, .* and 2 more — a line `!\.env` in \.stratusignore sends one on purpose$/);
  });

  it('sends a secret-looking file on purpose when a ! line in .stratusignore says so, and only that one', async () => {
    await write({ '.stratusignore': '!.env.production\n!config/.npmrc\n!.aws/\n', 'index.js': 'x', '.env': 'a', '.env.production': 'b', '.npmrc': 'c', 'config/.npmrc': 'd', '.aws/config': 'e' });
    const listing = await listForPack(dir);
    expect(listing.entries.filter((e) => e.type === 'file').map((e) => e.name)).toEqual(['.aws/config', '.env.production', '.stratusignore', 'config/.npmrc', 'index.js']);
    expect(listing.secrets).toEqual(['.env', '.npmrc']);
    const entries = await unpack((await packDirectory(dir)).archive);
    expect(entries.get('.env.production')?.content).toBe('b');
    expect(entries.has('.env')).toBe(false);
  });

  it('names a secret the user also listed in .stratusignore as theirs, not as a secret', async () => {
    await write({ '.stratusignore': '.env\n', 'index.js': 'x', '.env': 'a', 'key.pem': 'b' });
    const listing = await listForPack(dir);
    expect(listing.ignored).toEqual(['.env']);
    expect(listing.secrets).toEqual(['key.pem']);
  });

  it('does not look for secrets inside node_modules sent on purpose: a package ships its own test keys and CA bundles', async () => {
    await write({ '.stratusignore': '!node_modules/\n', 'index.js': 'x', 'node_modules/tls-pkg/ca.pem': 'cert', 'node_modules/tls-pkg/test/key.pem': 'k', '.env': 'a' });
    const listing = await listForPack(dir);
    expect(listing.entries.filter((e) => e.type === 'file').map((e) => e.name)).toEqual(['.stratusignore', 'index.js', 'node_modules/tls-pkg/ca.pem', 'node_modules/tls-pkg/test/key.pem']);
    expect(listing.secrets).toEqual(['.env']);
  });

  it('reads .gitignore only through an #!include: line, and its rules then count as .stratusignore\'s', async () => {
    await write({ '.gitignore': 'dist/\n*.log\n', 'index.js': 'x', 'dist/app.js': 'built', 'debug.log': 'x' });
    // Without the line, build output listed in .gitignore is code the function runs: it goes.
    expect(await fileNames()).toEqual(['.gitignore', 'debug.log', 'dist/app.js', 'index.js']);
    await write({ '.stratusignore': '#!include:.gitignore\n!dist/\n' });
    const listing = await listForPack(dir);
    expect(listing.entries.filter((e) => e.type === 'file').map((e) => e.name)).toEqual(['.gitignore', '.stratusignore', 'dist/app.js', 'index.js']);
    expect(listing.ignored).toEqual(['debug.log']);
    await write({ '.stratusignore': '#!include:missing.txt\n' });
    const err = await listForPack(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toMatch(/\.stratusignore: cannot read missing\.txt for its #!include line/);
  });

  it('refuses a directory holding only secret-looking files, naming them and the way to send one', async () => {
    await write({ '.env': 'a', 'key.pem': 'b' });
    const err = await packDirectory(dir).catch((e: unknown) => e);
    expect((err as CliError).exitCode).toBe(EXIT.usage);
    expect((err as CliError).message).toMatch(/nothing to deploy .*leave out \.env, key\.pem; a `!NAME` line in \.stratusignore sends one\)$/);
  });

  it('counts the names past twenty in the note instead of listing them all', () => {
    const many = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(2, '0')}.pem`);
    const note = secretsNote(many);
    expect(note).toContain('k19.pem and 5 more');
    expect(note).not.toContain('k20.pem');
  });

  it('shows a secret-looking file name with control characters escaped', () => {
    expect(secretsNote(['evil\x1b]8;;x\x07.pem'])).toContain('evil\\x1b]8;;x\\x07.pem');
  });
});
