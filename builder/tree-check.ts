// The code tree after a dependency install, checked with the rules extraction applies while it writes
// (safe-tree.ts): an install runs the uploader's scripts, so what it leaves is as hostile as an archive.
// A link out of the tree would be followed later by whoever reads the tree as root (image context,
// stem staging, artifact moves); a fifo blocks a reader forever; a device file reads host devices.

import fsp from 'node:fs/promises';
import path from 'node:path';
import { isInside, linkTargetInside, type ExtractLimits } from './safe-tree.js';

/** A rule the tree breaks; the message is for the user whose install broke it. */
export class TreeViolation extends Error {
  override name = 'TreeViolation';
}

export type TreeLimits = Pick<ExtractLimits, 'maxEntries' | 'maxUnpackedBytes'>;

export interface TreeSummary {
  entries: number;
  bytes: number;
}

/**
 * Walks `root` without following links and throws a TreeViolation at the first broken rule; the walk
 * stops at the entry limit, so a tree of millions of files costs no more than the limit.
 * `who` names what made the tree, for the messages ("the dependency install").
 */
export async function checkTree(root: string, limits: TreeLimits, who: string): Promise<TreeSummary> {
  const realRoot = await fsp.realpath(root);
  const fail = (msg: string) => new TreeViolation(`${who} ${msg}`);
  /** Files with more than one link, by inode: how many of their links were seen inside. */
  const multiLinked = new Map<string, { rel: string; nlink: number; seen: number }>();
  let entries = 0;
  let bytes = 0;
  const pending = [''];
  while (pending.length > 0) {
    const dirRel = pending.pop()!;
    for (const name of await fsp.readdir(path.join(root, dirRel))) {
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      const abs = path.join(root, rel);
      entries += 1;
      if (entries > limits.maxEntries) {
        throw fail(`left more than ${limits.maxEntries} files and folders, the limit (STRATUS_MAX_ARCHIVE_ENTRIES); depend on fewer or smaller packages`);
      }
      const st = await fsp.lstat(abs);
      if (st.isDirectory()) {
        pending.push(rel);
      } else if (st.isFile()) {
        bytes += st.size;
        if (bytes > limits.maxUnpackedBytes) {
          const mb = Math.round(limits.maxUnpackedBytes / (1024 * 1024));
          throw fail(`left more than ${mb} MB of files, the limit (STRATUS_MAX_UNPACKED_MB); depend on fewer or smaller packages`);
        }
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const known = multiLinked.get(key) ?? { rel, nlink: st.nlink, seen: 0 };
          known.seen += 1;
          multiLinked.set(key, known);
        }
      } else if (st.isSymbolicLink()) {
        await checkLink(realRoot, root, rel, fail);
      } else {
        throw fail(`left ${JSON.stringify(rel)}, a ${kindOf(st)}; a build may only leave files, folders and links inside its code`);
      }
    }
  }
  // A file with more links than the tree holds shares its content with a file outside: what the
  // platform later copies or serves as code would be that outside file (or a way to write to it).
  for (const f of multiLinked.values()) {
    if (f.seen < f.nlink) {
      throw fail(`left ${JSON.stringify(f.rel)} hard-linked to a file outside the code (${f.nlink} links, ${f.seen} inside); a build may not link out of its tree`);
    }
  }
  return { entries, bytes };
}

async function checkLink(realRoot: string, root: string, rel: string, fail: (msg: string) => TreeViolation): Promise<void> {
  const target = await fsp.readlink(path.join(root, rel));
  const outside = () => fail(`left ${JSON.stringify(rel)}, a symlink to ${JSON.stringify(target)}, outside the code; a build may not link out of its tree`);
  if (!linkTargetInside(rel, target, false).ok) throw outside();
  // Lexically inside; through other links it may still leave. A link that resolves nowhere (dangling,
  // a loop) is left alone: lexically it can only ever point inside.
  const real = await fsp.realpath(path.join(root, rel)).catch(() => null);
  if (real !== null && !isInside(realRoot, real)) throw outside();
}

function kindOf(st: { isFIFO(): boolean; isSocket(): boolean; isBlockDevice(): boolean; isCharacterDevice(): boolean }): string {
  if (st.isFIFO()) return 'named pipe (fifo)';
  if (st.isSocket()) return 'unix socket';
  if (st.isBlockDevice()) return 'block device file';
  if (st.isCharacterDevice()) return 'character device file';
  return 'special file';
}
