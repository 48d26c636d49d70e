// Zip entries into a SafeTree. Names are decoded by us (decodeStrings: false) so that a bad name gets
// our own message rather than yauzl's; modes come from the Unix part of the external attributes.

import { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { isStratusError } from '../core/errors.js';
import { badArchive, isSystemError, type SafeTree } from './safe-tree.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

const SPECIAL: Record<number, string> = { 0o010000: 'fifo', 0o020000: 'character device', 0o060000: 'block device', 0o140000: 'socket' };

export async function extractZip(file: string, tree: SafeTree): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, autoClose: false });
  } catch {
    throw badArchive('the upload looks like a zip file but cannot be read (truncated or corrupt); create it again and upload it');
  }
  try {
    // The central directory's count is a claim; it is enough to refuse early, the real count follows.
    tree.checkClaimedEntries(zip.entryCount);
    for await (const entry of eachEntry(zip)) {
      tree.countEntry();
      const raw = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
      const rel = tree.resolve(raw);
      if (rel === null) continue;
      const unixMode = (entry.versionMadeBy >> 8) === 3 ? entry.externalFileAttributes >>> 16 : 0;
      const type = unixMode & S_IFMT;
      if (SPECIAL[type]) throw badArchive(`the archive entry ${JSON.stringify(raw)} is a ${SPECIAL[type]}; only files, folders and links are allowed`);
      if (entry.isEncrypted()) throw badArchive(`the archive entry ${JSON.stringify(raw)} is encrypted; upload an unencrypted zip`);
      if (raw.endsWith('/') || type === S_IFDIR) {
        await tree.mkdir(rel);
      } else if (type === S_IFLNK) {
        const target = await readAll(await zip.openReadStreamPromise(entry), 4096);
        tree.countInflated(target.length);
        tree.symlink(rel, target.toString('utf8'));
      } else if (type === 0 || type === S_IFREG) {
        await tree.writeFile(rel, () => zip.openReadStreamPromise(entry), (unixMode & 0o111) !== 0, true);
      }
    }
  } catch (err) {
    if (isStratusError(err) || isSystemError(err)) throw err;
    throw badArchive('the zip file is corrupt (an entry could not be decompressed or its size does not match); create it again and upload it');
  } finally {
    zip.close();
  }
}

/** yauzl's lazy entry loop as an async iterator that surfaces its 'error' events. */
async function* eachEntry(zip: yauzl.ZipFile): AsyncGenerator<yauzl.Entry> {
  for (;;) {
    const next = await new Promise<yauzl.Entry | null>((resolve, reject) => {
      const onEntry = (e: yauzl.Entry) => done(() => resolve(e));
      const onEnd = () => done(() => resolve(null));
      const onError = (err: Error) => done(() => reject(err));
      const done = (f: () => void) => {
        zip.off('entry', onEntry).off('end', onEnd).off('error', onError);
        f();
      };
      zip.on('entry', onEntry).on('end', onEnd).on('error', onError);
      zip.readEntry();
    });
    if (next === null) return;
    yield next;
  }
}

async function readAll(stream: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > max) throw badArchive('a symlink in the archive has a target longer than 4096 bytes');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
