// `stratus deploy` packs a directory as .tar.gz. What is left out:
//   - always: .git (history, not code) and .stratus (a platform's state dir: it holds the admin key);
//   - by default: node_modules, because Stratus installs the dependencies from package.json (`npm ci`
//     with a lockfile) inside its build sandbox — a `!node_modules/` line in .stratusignore sends it anyway;
//   - by default: files that look like secrets (core/secret-files.ts: .env, .npmrc, *.pem, .aws/, …) at
//     any depth, because the archive becomes an image anyone with the registry can read; a `!` line in
//     .stratusignore (`!.env.production`) sends one on purpose. Not inside node_modules: a package ships
//     its own test certificates and CA bundles, which are published code, not the user's secrets;
//   - what .stratusignore lists, with .gitignore's rules (the `ignore` package, which git's own tests check).
//     .gitignore itself is not read unless .stratusignore says `#!include:.gitignore` (gcloud's syntax):
//     it lists build output (dist/, compiled .js) that a deployed function runs from.
// Symlinks travel as symlinks: the builder refuses one that leaves the tree, with its own message.

import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import ignore from 'ignore';
import tar from 'tar-stream';
import { SECRET_RULES } from '../core/secret-files.js';
import { usageError } from './errors.js';

export const IGNORE_FILE = '.stratusignore';
const ALWAYS_LEFT_OUT = new Set(['.git', '.stratus']);
const DEFAULT_RULES = ['node_modules/'];
/** A line of .stratusignore that stands for another file's lines, as in gcloud's .gcloudignore. */
const INCLUDE = /^#!include:(.+)$/;

export interface PackEntry {
  /** Path inside the archive, "/"-separated, relative to the directory. */
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  mtime: Date;
  size: number;
  linkname?: string;
}

export interface PackListing {
  entries: PackEntry[];
  /** Paths .stratusignore (or the node_modules default) left out; an ignored directory is one path. */
  ignored: string[];
  /** Paths left out because they look like secrets (and no `!` line sends them); a directory is one path. */
  secrets: string[];
  /** Paths always left out (.git, .stratus) that were there. */
  alwaysLeftOut: string[];
  /** Sockets, FIFOs, devices: cannot travel in an archive. */
  skipped: string[];
}

/** Walks `dir` and decides what goes into the archive; nothing is read but names and stats. */
export async function listForPack(dir: string): Promise<PackListing> {
  const own = await readIgnoreRules(dir);
  // The user's rules come last in both, so a `!` line of theirs wins over a default.
  const byRules = ignore().add(DEFAULT_RULES).add(own);
  const withSecrets = ignore().add(DEFAULT_RULES).add([...SECRET_RULES]).add(own);
  const listing: PackListing = { entries: [], ignored: [], secrets: [], alwaysLeftOut: [], skipped: [] };
  const walk = async (rel: string, inDependencies: boolean): Promise<void> => {
    const dirents = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
    dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // the same archive for the same tree
    for (const d of dirents) {
      const name = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory() && ALWAYS_LEFT_OUT.has(d.name)) {
        listing.alwaysLeftOut.push(`${name}/`);
        continue;
      }
      // The trailing slash is how gitignore tells a directory pattern ("build/") from a file one.
      const asPath = d.isDirectory() ? `${name}/` : name;
      if (byRules.ignores(asPath)) {
        listing.ignored.push(asPath);
        continue;
      }
      if (!inDependencies && withSecrets.ignores(asPath)) {
        listing.secrets.push(asPath);
        continue;
      }
      const full = path.join(dir, name);
      const st = await fs.lstat(full);
      const base = { name, mode: st.mode & 0o777, mtime: st.mtime };
      if (st.isDirectory()) {
        listing.entries.push({ ...base, type: 'directory', size: 0 });
        await walk(name, inDependencies || d.name === 'node_modules');
      } else if (st.isFile()) {
        listing.entries.push({ ...base, type: 'file', size: st.size });
      } else if (st.isSymbolicLink()) {
        listing.entries.push({ ...base, type: 'symlink', size: 0, linkname: await fs.readlink(full) });
      } else {
        listing.skipped.push(name);
      }
    }
  };
  await walk('', false);
  return listing;
}

/** .stratusignore's lines, each `#!include:FILE` replaced by FILE's lines (FILE relative to `dir`); none without the file. */
async function readIgnoreRules(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, IGNORE_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const rules: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const include = INCLUDE.exec(line.trim());
    if (!include) {
      rules.push(line);
      continue;
    }
    const file = include[1]!.trim();
    try {
      rules.push(...(await fs.readFile(path.resolve(dir, file), 'utf8')).split(/\r?\n/));
    } catch (err) {
      throw usageError(`${IGNORE_FILE}: cannot read ${file} for its #!include line: ${(err as Error).message}`);
    }
  }
  return rules;
}

export interface Packed extends PackListing {
  archive: Buffer;
  files: number;
  /** Bytes of the files before compression. */
  bytes: number;
}

/** Packs `dir` as .tar.gz in memory (uploads are bounded by the platform, 50 MB by default). */
export async function packDirectory(dir: string): Promise<Packed> {
  const listing = await listForPack(dir);
  const files = listing.entries.filter((e) => e.type === 'file');
  if (files.length === 0) {
    const out = [...listing.ignored, ...listing.secrets];
    const why = out.length > 0 ? ` (${IGNORE_FILE} or the defaults leave out ${out.join(', ')}; a \`!NAME\` line in ${IGNORE_FILE} sends one)` : '';
    throw usageError(`nothing to deploy in ${dir}: no file would be uploaded${why}`);
  }
  const pack = tar.pack();
  const gzip = zlib.createGzip();
  const chunks: Buffer[] = [];
  gzip.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    gzip.on('end', resolve);
    gzip.on('error', reject);
    pack.on('error', reject);
  });
  pack.pipe(gzip);
  for (const e of listing.entries) {
    const header = { name: e.type === 'directory' ? `${e.name}/` : e.name, mode: e.mode, mtime: e.mtime, type: e.type };
    if (e.type === 'file') await addEntry(pack, { ...header, size: e.size }, await fs.readFile(path.join(dir, e.name)));
    else await addEntry(pack, e.type === 'symlink' ? { ...header, linkname: e.linkname } : header);
  }
  pack.finalize();
  await done;
  return { ...listing, archive: Buffer.concat(chunks), files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) };
}

function addEntry(pack: tar.Pack, header: Partial<tar.Header> & Pick<tar.Header, 'name'>, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (content) pack.entry(header, content, cb);
    else pack.entry(header, cb);
  });
}
