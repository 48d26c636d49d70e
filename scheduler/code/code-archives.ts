// A version's code tree as one gzipped tar, for stems that fetch their code over HTTP (core/code-url.ts).
// Packed once per version from the local artifact dir, kept in memory (bounded, least recently used
// goes first) and, when an ArtifactStore is wired, stored there before any URL to it is handed out: the
// URL may be fetched through any replica (a Kubernetes Service balances), and a replica that has no
// artifact dir of its own reads the archive from the store. The digest is of the gzip bytes: what the
// runtime checks before unpacking.
//
// What is packed: directories, regular files (mode kept: 0755 or 0644), and symlinks as they are (the
// runtime refuses any whose real target leaves the code dir). Sockets, fifos and devices are skipped.

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import { StratusError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { ArtifactStore } from '../../core/ports/artifact-store.js';

const gzip = promisify(zlib.gzip);

export interface CodeArchive {
  bytes: Buffer;
  /** Hex SHA-256 of `bytes`. */
  sha256: string;
}

/** Where a version's code is: its artifact dir on this host (may be absent here) and a tag that tells two builds of one version number apart. */
export interface VersionCodeRef {
  artifactDir: string | null;
  /** The build id (a function deleted and created again reuses version numbers, never build ids). */
  tag: string;
}

export interface CodeArchivesOptions {
  /** The ref of a version being built or ready, or null when there is none (deleted, failed). */
  lookup(fn: string, version: number): Promise<VersionCodeRef | null>;
  store: ArtifactStore | null;
  /** Archives kept in memory, in total bytes. */
  maxCachedBytes?: number;
  /** An archive larger than this is refused: its stems start from the version's image instead. */
  maxArchiveBytes?: number;
  /** How long the store keeps an archive nobody asks for again (it is packed again from the artifact dir when needed). */
  storeTtlMs?: number;
  logger: Logger;
}

export const DEFAULT_MAX_ARCHIVE_BYTES = 256 * 1024 * 1024;

export function artifactKey(fn: string, version: number, tag: string): string {
  return `code/${fn}/${version}/${tag}.tar.gz`;
}

export class CodeArchives {
  readonly #cache = new Map<string, CodeArchive>();
  readonly #loading = new Map<string, Promise<CodeArchive | null>>();
  /** Versions whose tree is too large to pack: remembered, so that each cold start does not pack it again to find out. */
  readonly #tooBig = new Map<string, StratusError>();
  #cachedBytes = 0;

  constructor(private readonly o: CodeArchivesOptions) {}

  /**
   * The archive of a version, or null when the version does not exist (or has no code tree anywhere).
   * `artifactDir`: the tree the caller is starting (a build's load check runs before the record names it).
   */
  async get(fn: string, version: number, artifactDir?: string | null): Promise<CodeArchive | null> {
    const found = await this.o.lookup(fn, version);
    if (!found) return null;
    // The caller's tree when it is here, else the one the record names.
    const ref = artifactDir && (await isDir(artifactDir)) ? { ...found, artifactDir } : found;
    const key = artifactKey(fn, version, ref.tag);
    const hit = this.#cache.get(key);
    if (hit) {
      this.#cache.delete(key); // re-inserted: the Map's order is the recency order
      this.#cache.set(key, hit);
      return hit;
    }
    const refused = this.#tooBig.get(key);
    if (refused) throw refused;
    let p = this.#loading.get(key);
    if (!p) {
      p = this.#load(key, ref)
        .catch((err: unknown) => {
          if (err instanceof TooBigError) {
            this.#tooBig.set(key, err);
            if (this.#tooBig.size > 1000) this.#tooBig.delete(this.#tooBig.keys().next().value!);
          }
          throw err;
        })
        .finally(() => this.#loading.delete(key));
      this.#loading.set(key, p);
    }
    return p;
  }

  async #load(key: string, ref: VersionCodeRef): Promise<CodeArchive | null> {
    let bytes: Buffer | null = null;
    const local = ref.artifactDir !== null && (await isDir(ref.artifactDir));
    if (local) {
      bytes = await packTree(ref.artifactDir!, this.o.maxArchiveBytes ?? DEFAULT_MAX_ARCHIVE_BYTES);
      // Before the URL goes out: another replica may be the one that serves it.
      if (this.o.store) await this.o.store.put(key, bytes, this.o.storeTtlMs === undefined ? {} : { ttlMs: this.o.storeTtlMs });
    } else if (this.o.store) {
      bytes = await this.o.store.get(key);
    }
    if (!bytes) return null;
    const archive = { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
    this.#remember(key, archive);
    return archive;
  }

  #remember(key: string, archive: CodeArchive): void {
    const max = this.o.maxCachedBytes ?? 256 * 1024 * 1024;
    if (archive.bytes.length > max) return;
    this.#cache.set(key, archive);
    this.#cachedBytes += archive.bytes.length;
    for (const [k, v] of this.#cache) {
      if (this.#cachedBytes <= max) break;
      this.#cache.delete(k);
      this.#cachedBytes -= v.bytes.length;
    }
  }
}

const isDir = (p: string) => fs.stat(p).then((s) => s.isDirectory(), () => false);

/** A directory tree as a gzipped tar (paths relative to the root, "/" separated). */
export async function packTree(root: string, maxBytes: number): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  let size = 0;
  pack.on('data', (c: unknown) => {
    if (!Buffer.isBuffer(c)) return;
    size += c.length;
    if (size <= maxBytes) chunks.push(c);
  });
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  const add = (header: Partial<tarStream.Header> & Pick<tarStream.Header, 'name'>, body?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body) pack.entry(header, body, done);
      else pack.entry(header, done);
    });
  const mtime = new Date(0); // the archive of a tree is the same bytes whenever it is packed
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      if (size > maxBytes) return;
      const abs = path.join(dir, e.name);
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        await add({ name, type: 'directory', mode: 0o755, mtime });
        await walk(abs, name);
      } else if (e.isSymbolicLink()) {
        await add({ name, type: 'symlink', linkname: await fs.readlink(abs), mode: 0o777, mtime });
      } else if (e.isFile()) {
        const st = await fs.stat(abs);
        await add({ name, type: 'file', mode: st.mode & 0o111 ? 0o755 : 0o644, mtime }, await fs.readFile(abs));
      }
    }
  };
  await walk(root, '');
  pack.finalize();
  await ended;
  if (size > maxBytes) throw tooBig(root, maxBytes);
  const gz = await gzip(Buffer.concat(chunks), { level: 1 });
  if (gz.length > maxBytes) throw tooBig(root, maxBytes);
  return gz;
}

class TooBigError extends StratusError {}

function tooBig(root: string, maxBytes: number): StratusError {
  return new TooBigError('INSTANCE_START_FAILED', `the code tree ${root} is larger than ${maxBytes} bytes as an archive; its instances start from its image instead of a stem`);
}
