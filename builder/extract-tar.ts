// Tar (optionally gzipped) entries into a SafeTree. Decompressed bytes are counted as they leave gunzip,
// so a gzip bomb is stopped by the ratio limit long before it fills the disk or the memory.

import fs from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tarStream, { type Header } from 'tar-stream';
import { isStratusError } from '../core/errors.js';
import { badArchive, isSystemError, type SafeTree } from './safe-tree.js';

/** An entry as tar-stream (streamx) yields it: its header and its content as an async iterable. */
type TarEntry = AsyncIterable<Buffer> & { header: Header; resume(): unknown };

const SPECIAL: Record<string, string> = {
  'character-device': 'character device',
  'block-device': 'block device',
  fifo: 'fifo',
};

export async function extractTar(file: string, gzipped: boolean, tree: SafeTree): Promise<void> {
  const inflatedCounter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        tree.countInflated(chunk.length);
        done(null, chunk);
      } catch (err) {
        done(err as Error);
      }
    },
  });
  const extract = tarStream.extract();
  const source = fs.createReadStream(file);
  const stages = gzipped ? [source, zlib.createGunzip(), inflatedCounter] : [source, inflatedCounter];
  // Run the feeding pipeline alongside the entry loop; its error (if any) is collected, not thrown twice.
  const feeding = pipeline([...stages, extract]).then(
    () => null,
    (err: unknown) => err,
  );
  try {
    for await (const entry of extract) {
      await writeEntry(entry as unknown as TarEntry, tree);
    }
  } catch (err) {
    extract.destroy();
    source.destroy();
    await feeding;
    throw asArchiveError(err, gzipped);
  }
  const feedError = await feeding;
  if (feedError) throw asArchiveError(feedError, gzipped);
}

async function writeEntry(entry: TarEntry, tree: SafeTree): Promise<void> {
  const h = entry.header;
  tree.countEntry();
  const rel = tree.resolve(h.name);
  const type = h.type ?? 'file';
  if (SPECIAL[type]) {
    entry.resume();
    throw badArchive(`the archive entry ${JSON.stringify(h.name)} is a ${SPECIAL[type]}; only files, folders and links are allowed`);
  }
  if (rel === null) {
    entry.resume();
    return;
  }
  switch (type) {
    case 'file':
    case 'contiguous-file':
      await tree.writeFile(rel, async () => entry, ((h.mode ?? 0o644) & 0o111) !== 0, false);
      return;
    case 'directory':
      entry.resume();
      await tree.mkdir(rel);
      return;
    case 'symlink':
      entry.resume();
      tree.symlink(rel, h.linkname ?? '');
      return;
    case 'link':
      entry.resume();
      await tree.hardlink(rel, h.linkname ?? '');
      return;
    default:
      entry.resume();
      throw badArchive(`the archive entry ${JSON.stringify(h.name)} has an unsupported type (${type}); only files, folders and links are allowed`);
  }
}

function asArchiveError(err: unknown, gzipped: boolean): unknown {
  if (isStratusError(err) || isSystemError(err)) return err;
  return badArchive(
    gzipped
      ? 'the upload is gzip-compressed but does not hold a readable tar archive (truncated or corrupt); create it again with `tar czf`'
      : 'the tar archive is truncated or corrupt; create it again and upload it',
  );
}
