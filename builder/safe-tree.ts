// The one place where uploaded archive entries become files. Every entry name is checked before it
// touches the disk, sizes are counted while bytes stream (headers lie), and symlinks are created only
// after every regular file is written, so no write can ever pass through a link: an archive cannot
// plant "dir -> /etc" and then write "dir/passwd". What lands here stays inside `root`.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StratusError } from '../core/errors.js';

export interface ExtractLimits {
  maxEntries: number;
  maxUnpackedBytes: number;
  maxCompressionRatio: number;
}

/** Below this many inflated bytes the ratio is not checked: tiny uploads of text compress very well. */
export const RATIO_FLOOR_BYTES = 1024 * 1024;

/** Zip and tar folders that are packaging debris, never code (macOS resource forks). */
const IGNORED_TOP = new Set(['__MACOSX']);

export function badArchive(message: string): StratusError {
  return new StratusError('BAD_ARCHIVE', message, { field: 'code' });
}

/** An error of the file system (disk full, permissions): ours to log, not the archive's fault. */
export function isSystemError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

export type LinkCheck = { ok: true; rel: string } | { ok: false; why: 'invalid' | 'absolute' | 'climbs' };

/**
 * The link rule shared by extraction and the post-install check (tree-check.ts): a target must be
 * relative and, read lexically from the link's folder (or from the root, for tar hard links), stay in
 * the tree. Returns the target as a tree-relative path.
 */
export function linkTargetInside(rel: string, target: string, fromRoot: boolean): LinkCheck {
  if (target === '' || target.includes('\0')) return { ok: false, why: 'invalid' };
  if (path.posix.isAbsolute(target) || /^[A-Za-z]:/.test(target)) return { ok: false, why: 'absolute' };
  const joined = fromRoot ? path.posix.normalize(target) : path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
  if (joined === '..' || joined.startsWith('../')) return { ok: false, why: 'climbs' };
  return { ok: true, rel: joined.replace(/\/$/, '') };
}

/** Whether a resolved (realpath) location is the tree's real root or below it. */
export function isInside(realRoot: string, real: string): boolean {
  return real === realRoot || real.startsWith(realRoot + path.sep);
}

export class SafeTree {
  readonly root: string;
  entries = 0;
  /** Bytes of file content written. */
  unpackedBytes = 0;
  /** Bytes coming out of the decompressor (tar headers and padding included): what the ratio is about. */
  inflatedBytes = 0;
  readonly #links: { rel: string; target: string }[] = [];
  readonly #written = new Set<string>();

  constructor(root: string, private readonly limits: ExtractLimits, private readonly archiveBytes: number) {
    this.root = path.resolve(root);
  }

  /**
   * Checks an entry name and returns its normalized relative path ('' for the root itself), or null
   * for debris to skip. Throws BAD_ARCHIVE for absolute names and `..` segments.
   */
  resolve(name: string): string | null {
    if (name.includes('\0')) throw badArchive(`the archive entry ${JSON.stringify(name)} holds a NUL byte in its name`);
    if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) {
      throw badArchive(`the archive entry ${JSON.stringify(name)} has an absolute path; archive entries must be relative to the upload`);
    }
    const parts = name.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) {
      throw badArchive(`the archive entry ${JSON.stringify(name)} climbs out of the upload with ".." (path traversal)`);
    }
    if (parts.length > 0 && IGNORED_TOP.has(parts[0]!)) return null;
    return parts.join('/');
  }

  /** Counts one entry against maxEntries. */
  countEntry(): void {
    this.entries += 1;
    if (this.entries > this.limits.maxEntries) {
      throw badArchive(`the archive holds more than ${this.limits.maxEntries} entries, the limit; leave out what the function does not need (tests, docs, node_modules)`);
    }
  }

  /** Refuses early on a count an archive declares up front (zip central directory); real counting follows. */
  checkClaimedEntries(claimed: number): void {
    if (claimed > this.limits.maxEntries) {
      this.entries = claimed - 1;
      this.countEntry();
    }
  }

  /** Counts decompressed bytes against the compression ratio limit (zip bombs, gzip bombs). */
  countInflated(n: number): void {
    this.inflatedBytes += n;
    const ratio = this.inflatedBytes / Math.max(1, this.archiveBytes);
    if (this.inflatedBytes > RATIO_FLOOR_BYTES && ratio > this.limits.maxCompressionRatio) {
      throw badArchive(`the archive expands more than ${this.limits.maxCompressionRatio} times its size (a compression bomb?); upload it with less compressible content or uncompressed`);
    }
  }

  #countUnpacked(n: number): void {
    this.unpackedBytes += n;
    if (this.unpackedBytes > this.limits.maxUnpackedBytes) {
      const mb = Math.round(this.limits.maxUnpackedBytes / (1024 * 1024));
      throw badArchive(`the archive unpacks to more than ${mb} MB, the limit; leave out what the function does not need`);
    }
  }

  async mkdir(rel: string): Promise<void> {
    if (rel === '') return;
    await this.#guard(rel, () => fsp.mkdir(path.join(this.root, rel), { recursive: true, mode: 0o755 }));
  }

  /**
   * Streams one file into the tree; the byte count is what the stream yields, not what a header claims.
   * `open` is called only once the file is ready to receive, so that no stream errors while unobserved.
   */
  async writeFile(rel: string, open: () => Promise<Readable | AsyncIterable<Uint8Array>>, executable: boolean, countAsInflated: boolean): Promise<void> {
    if (rel === '') throw badArchive('the archive holds a file entry with an empty name');
    const abs = path.join(this.root, rel);
    const mode = executable ? 0o755 : 0o644;
    await this.#guard(rel, async () => {
      await fsp.mkdir(path.dirname(abs), { recursive: true, mode: 0o755 });
      // O_EXCL + O_NOFOLLOW: never truncate or follow something that is already there.
      const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
      const counter = new Transform({
        transform: (chunk: Buffer, _enc, done) => {
          try {
            this.#countUnpacked(chunk.length);
            if (countAsInflated) this.countInflated(chunk.length);
            done(null, chunk);
          } catch (err) {
            done(err as Error);
          }
        },
      });
      const out = (await fsp.open(abs, flags, mode)).createWriteStream(); // closes its handle when done or destroyed
      await pipeline(await open(), counter, out);
      // The umask may have narrowed the mode; the function's user must be able to read its code.
      await fsp.chmod(abs, mode);
    });
    this.#written.add(rel);
  }

  /** A tar hard link becomes a copy of a file already extracted from the same archive. */
  async hardlink(rel: string, targetName: string): Promise<void> {
    const target = this.#linkTargetInside(rel, targetName, 'hard link', true);
    if (!this.#written.has(target)) {
      throw badArchive(`the hard link ${JSON.stringify(rel)} points to ${JSON.stringify(targetName)}, which is not a file earlier in the archive`);
    }
    const abs = path.join(this.root, rel);
    await this.#guard(rel, async () => {
      const st = await fsp.lstat(path.join(this.root, target));
      this.#countUnpacked(st.size);
      await fsp.mkdir(path.dirname(abs), { recursive: true, mode: 0o755 });
      await fsp.copyFile(path.join(this.root, target), abs, fs.constants.COPYFILE_EXCL);
    });
    this.#written.add(rel);
  }

  /** Symlinks are only recorded here; finish() creates them once no more file is written. */
  symlink(rel: string, linkTarget: string): void {
    if (rel === '') throw badArchive('the archive holds a symlink with an empty name');
    this.#linkTargetInside(rel, linkTarget, 'symlink', false);
    this.#links.push({ rel, target: linkTarget });
  }

  /** Creates the deferred symlinks, proves each resolves inside the tree, strips a single top folder. */
  async finish(): Promise<void> {
    for (const link of this.#links) {
      await this.#assertNoLinkInParents(link.rel);
      const abs = path.join(this.root, link.rel);
      await this.#guard(link.rel, async () => {
        await fsp.mkdir(path.dirname(abs), { recursive: true, mode: 0o755 });
        await fsp.symlink(link.target, abs);
      });
    }
    const realRoot = await fsp.realpath(this.root);
    for (const link of this.#links) {
      const real = await fsp.realpath(path.join(this.root, link.rel)).catch(() => null);
      if (real === null) {
        throw badArchive(`the symlink ${JSON.stringify(link.rel)} points to ${JSON.stringify(link.target)}, which does not exist in the upload`);
      }
      if (!isInside(realRoot, real)) {
        throw badArchive(`the symlink ${JSON.stringify(link.rel)} resolves outside the upload through other links`);
      }
    }
    const top = await fsp.readdir(this.root);
    if (top.length === 0) throw badArchive('the archive holds no files');
    if (top.length === 1) await this.#stripTopFolder(top[0]!);
  }

  /** GitHub-style archives wrap everything in "repo-main/": lift its content to the root. */
  async #stripTopFolder(name: string): Promise<void> {
    const only = path.join(this.root, name);
    if (!(await fsp.lstat(only)).isDirectory()) return;
    const lifted = `${this.root}.strip-${process.pid}-${Date.now()}`;
    await fsp.rename(only, lifted);
    await fsp.rmdir(this.root);
    await fsp.rename(lifted, this.root);
  }

  /** Returns the link target as a tree-relative path, refusing absolute targets and escapes. */
  #linkTargetInside(rel: string, target: string, kind: string, fromRoot: boolean): string {
    const checked = linkTargetInside(rel, target, fromRoot);
    if (checked.ok) return checked.rel;
    if (checked.why === 'invalid') throw badArchive(`the ${kind} ${JSON.stringify(rel)} has an empty or invalid target`);
    if (checked.why === 'absolute') {
      throw badArchive(`the ${kind} ${JSON.stringify(rel)} points outside the upload (absolute target ${JSON.stringify(target)})`);
    }
    throw badArchive(`the ${kind} ${JSON.stringify(rel)} points outside the upload (${JSON.stringify(target)})`);
  }

  async #assertNoLinkInParents(rel: string): Promise<void> {
    const parts = rel.split('/').slice(0, -1);
    let cur = this.root;
    for (const p of parts) {
      cur = path.join(cur, p);
      const st = await fsp.lstat(cur).catch(() => null);
      if (st?.isSymbolicLink()) throw badArchive(`the archive entry ${JSON.stringify(rel)} sits below a symlink; archives may not write through links`);
    }
  }

  /** Turns clashes between entries (a file where a folder should be, duplicates) into BAD_ARCHIVE. */
  async #guard(rel: string, op: () => Promise<unknown>): Promise<void> {
    try {
      await op();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'ELOOP') {
        throw badArchive(`the archive entry ${JSON.stringify(rel)} clashes with another entry of the same name or path`);
      }
      throw err;
    }
  }
}
