// The function's sub-directory of a checkout → a .tar.gz like an upload, for the builder's usual safe
// extraction. Nothing is followed: the sub-directory must be a real folder at every step (a symlinked
// `directory` could name any folder of the host), symlinks inside are packed as symlinks (the builder
// refuses those pointing out of the tree) and no file outside the checkout is ever opened. .git is left
// out. Sizes and entries are bounded as an upload's are.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { StratusError } from '../../core/errors.js';

export interface PackLimits {
  maxUnpackedBytes: number;
  maxEntries: number;
  /** The packed archive, as an upload's size limit. */
  maxPackedBytes: number;
}

/** The sub-directory inside the checkout, refusing one that is missing, not a folder, or reached through a symlink. */
export async function functionRoot(checkout: string, directory: string, commit: string): Promise<string> {
  let current = checkout;
  for (const part of directory === '' ? [] : directory.split('/')) {
    current = path.join(current, part);
    const stat = await fsp.lstat(current).catch(() => null);
    if (!stat || !stat.isDirectory()) {
      const what = !stat ? 'has no' : stat.isSymbolicLink() ? 'has a symlink, not a folder, at' : 'has a file, not a folder, at';
      throw new StratusError('INVALID_CONFIG', `commit ${commit} ${what} ${JSON.stringify(path.relative(checkout, current))}: git.directory must name a folder of the repository`, { field: 'config.git.directory' });
    }
  }
  return current;
}

/** Packs `root` into `target` (.tar.gz); throws BAD_ARCHIVE past a limit. */
export async function packDirectory(root: string, target: string, limits: PackLimits): Promise<void> {
  const pack = tar.pack();
  const out = fs.createWriteStream(target, { mode: 0o600 });
  let packed = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      packed += chunk.length;
      done(packed > limits.maxPackedBytes ? tooLarge(`packed, it is larger than the ${mb(limits.maxPackedBytes)} upload limit`) : null, chunk);
    },
  });
  const writing = pipeline(pack, zlib.createGzip(), count, out);
  let entries = 0;
  let bytes = 0;
  const walk = async (rel: string): Promise<void> => {
    const dirents = await fsp.readdir(path.join(root, rel), { withFileTypes: true });
    dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of dirents) {
      if (d.name === '.git') continue;
      const name = rel === '' ? d.name : `${rel}/${d.name}`;
      if (++entries > limits.maxEntries) throw tooLarge(`it holds more than ${limits.maxEntries} entries`);
      const abs = path.join(root, name);
      if (d.isDirectory()) {
        await entry(pack, { name: `${name}/`, type: 'directory', mode: 0o755 });
        await walk(name);
      } else if (d.isSymbolicLink()) {
        await entry(pack, { name, type: 'symlink', linkname: await fsp.readlink(abs) });
      } else if (d.isFile()) {
        // O_NOFOLLOW: it was a regular file when listed; should it be a symlink now, it is not followed.
        const handle = await fsp.open(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
        try {
          const stat = await handle.stat();
          bytes += stat.size;
          if (bytes > limits.maxUnpackedBytes) throw tooLarge(`it is larger than the ${mb(limits.maxUnpackedBytes)} unpacked limit`);
          await entry(pack, { name, type: 'file', size: stat.size, mode: stat.mode & 0o111 ? 0o755 : 0o644 }, handle);
        } finally {
          await handle.close();
        }
      }
      // Anything else (git checks out only files, folders and symlinks) is left out.
    }
  };
  // A failed write (the size limit) may leave an entry waiting forever: the walk races the pipeline.
  const broken = new Promise<never>((_resolve, reject) => void writing.catch(reject));
  try {
    await Promise.race([walk('').then(() => pack.finalize()), broken]);
    await writing;
  } catch (err) {
    pack.destroy();
    await writing.catch(() => {});
    await fsp.rm(target, { force: true });
    throw err;
  }
}

type Pack = ReturnType<typeof tar.pack>;

function entry(pack: Pack, header: Parameters<Pack['entry']>[0], file?: fsp.FileHandle): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    if (file === undefined) return;
    const source = file.createReadStream({ autoClose: false, start: 0 });
    source.on('error', (err) => {
      sink.destroy(err);
      reject(err);
    });
    source.pipe(sink);
  });
}

const mb = (n: number) => `${Math.round(n / 1048576)} MB`;
const tooLarge = (why: string) => new StratusError('BAD_ARCHIVE', `the function's folder cannot be built: ${why}`, { field: 'config.git.directory' });
