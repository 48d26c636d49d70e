// Durable file writes: a stream lands in a temp file, is fsynced, then renamed into place and the
// directory fsynced, so after a crash a name either holds the whole new file or what it held before.

import { createHash, randomUUID, type Hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';


export interface Written {
  size: number;
  /** md5 of the bytes, hex (S3's ETag of a single-part object). */
  md5: string;
}

/** Streams `source` (or several in turn) into `tmpDir`, fsyncs and renames the file to `dest`. */
export async function writeAtomic(tmpDir: string, dest: string, sources: Readable | (() => AsyncIterable<Readable>)): Promise<Written> {
  const tmp = path.join(tmpDir, `${randomUUID()}.part`);
  const hash = createHash('md5');
  let size = 0;
  const fh = await fsp.open(tmp, 'wx', 0o600);
  try {
    const out = fs.createWriteStream('', { fd: fh.fd, autoClose: false });
    // pipeline() rejects with the first failure and then destroys every stage with it; the stages' own
    // late 'error' events are that same failure, already handled here.
    out.on('error', () => {});
    if (typeof sources === 'function') {
      for await (const src of sources()) await pipeline(src, counter(hash, (n) => (size += n)), out, { end: false });
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    } else {
      await pipeline(sources, counter(hash, (n) => (size += n)), out);
    }
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, dest);
    await syncDir(path.dirname(dest));
  } catch (err) {
    await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  return { size, md5: hash.digest('hex') };
}

/** Writes a small file (metadata) atomically. */
export async function writeFileAtomic(tmpDir: string, dest: string, data: string | Buffer): Promise<void> {
  const tmp = path.join(tmpDir, `${randomUUID()}.part`);
  try {
    const fh = await fsp.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, dest);
    await syncDir(path.dirname(dest));
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function counter(hash: Hash, add: (n: number) => void): Transform {
  const t = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      hash.update(chunk);
      add(chunk.length);
      done(null, chunk);
    },
  });
  t.on('error', () => {}); // see writeAtomic: reported through pipeline()
  return t;
}
