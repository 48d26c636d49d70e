// `stratus deploy` packs a directory as .tar.gz. What is left out:
//   - always: .git (history, not code) and .stratus (a platform's state dir: it holds the admin key);
//   - by default: node_modules, because Stratus installs the dependencies from package.json (`npm ci`
//     with a lockfile) inside its build sandbox — a `!node_modules/` line in .stratusignore sends it anyway;
//   - what .stratusignore lists, with .gitignore's rules (the `ignore` package, which git's own tests check).
// Symlinks travel as symlinks: the builder refuses one that leaves the tree, with its own message.

import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import ignore from 'ignore';
import tar from 'tar-stream';
import { usageError } from './errors.js';

export const IGNORE_FILE = '.stratusignore';
const ALWAYS_LEFT_OUT = new Set(['.git', '.stratus']);
const DEFAULT_RULES = ['node_modules/'];

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
  /** Paths always left out (.git, .stratus) that were there. */
  alwaysLeftOut: string[];
  /** Sockets, FIFOs, devices: cannot travel in an archive. */
  skipped: string[];
}

/** Walks `dir` and decides what goes into the archive; nothing is read but names and stats. */
export async function listForPack(dir: string): Promise<PackListing> {
  const ig = ignore().add(DEFAULT_RULES);
  try {
    ig.add(await fs.readFile(path.join(dir, IGNORE_FILE), 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const listing: PackListing = { entries: [], ignored: [], alwaysLeftOut: [], skipped: [] };
  const walk = async (rel: string): Promise<void> => {
    const dirents = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
    dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // the same archive for the same tree
    for (const d of dirents) {
      const name = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory() && ALWAYS_LEFT_OUT.has(d.name)) {
        listing.alwaysLeftOut.push(`${name}/`);
        continue;
      }
      // The trailing slash is how gitignore tells a directory pattern ("build/") from a file one.
      if (ig.ignores(d.isDirectory() ? `${name}/` : name)) {
        listing.ignored.push(d.isDirectory() ? `${name}/` : name);
        continue;
      }
      const full = path.join(dir, name);
      const st = await fs.lstat(full);
      const base = { name, mode: st.mode & 0o777, mtime: st.mtime };
      if (st.isDirectory()) {
        listing.entries.push({ ...base, type: 'directory', size: 0 });
        await walk(name);
      } else if (st.isFile()) {
        listing.entries.push({ ...base, type: 'file', size: st.size });
      } else if (st.isSymbolicLink()) {
        listing.entries.push({ ...base, type: 'symlink', size: 0, linkname: await fs.readlink(full) });
      } else {
        listing.skipped.push(name);
      }
    }
  };
  await walk('');
  return listing;
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
    const why = listing.ignored.length > 0 ? ` (${IGNORE_FILE} or the defaults leave out ${listing.ignored.join(', ')})` : '';
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
