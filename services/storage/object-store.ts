// Buckets and objects on disk under <stateDir>/storage:
//   buckets/<bucket>/meta/<sha256(key)>.json   the object's metadata (its key, size, etag, type, user meta,
//                                              and the name of its data file): the commit point of a write
//   buckets/<bucket>/data/<uuid>                the bytes, written atomically before the metadata points there
//   tmp/                                        uploads in flight; emptied at start (what a crash left)
// A write is temp file → fsync → rename of the data, then the same for the metadata; a crash at any point
// leaves the previous object (or none) visible, never a half one. Each bucket's metadata is read once
// into memory and kept in step (listing sorts that index; fine for the object counts a single node holds).
// Every bucket is read at start, so the usage counts (quota.ts) begin at what the disk holds; each change of
// the index changes them in the same synchronous step.

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StateLayout } from '../../core/state-layout.js';
import { writeAtomic, writeFileAtomic, type Written } from './disk.js';
import { S3Error } from './errors.js';
import { checkBucketName, checkKey, keyFileName } from './names.js';
import { StorageUsage } from './quota.js';
import { count, type Reservation } from './tally.js';
import { Turns } from './turns.js';

export interface ObjectMeta {
  key: string;
  size: number;
  /** md5 hex, or md5-of-part-md5s "-N" for a multipart object; without quotes. */
  etag: string;
  contentType: string;
  lastModified: string;
  /** x-amz-meta-* headers, names lower-case without the prefix. */
  userMeta: Record<string, string>;
  /** File name under the bucket's data/. */
  data: string;
}

export interface BucketInfo {
  name: string;
  created: string;
}

export type NewObject = Pick<ObjectMeta, 'contentType' | 'userMeta'>;

export interface PutOptions {
  /** The new object's ETag from what was written (default: its md5). */
  etagOf?: (w: Written) => string;
  /** What the write reserved in the usage counts: given back when the object's own size is counted. */
  reservation?: Reservation;
  /** Runs in the commit's synchronous step (a multipart upload gives back its parts' bytes there). */
  onCommit?: () => void;
}

export class ObjectStore {
  readonly root: string;
  readonly tmpDir: string;
  private readonly index = new Map<string, Map<string, ObjectMeta>>();
  /** A key's commits and deletes, one at a time. */
  private readonly turns = new Turns();

  constructor(stateDir: string, readonly usage: StorageUsage = new StorageUsage()) {
    this.root = new StateLayout(stateDir).storage;
    this.tmpDir = path.join(this.root, 'tmp');
  }

  /** Creates the layout and drops what a crash left half-written. */
  async init(): Promise<void> {
    await fsp.rm(this.tmpDir, { recursive: true, force: true });
    await fsp.mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    await fsp.mkdir(path.join(this.root, 'buckets'), { recursive: true, mode: 0o700 });
    for (const b of await this.listBuckets()) await this.requireBucket(b.name);
  }

  private bucketDir(bucket: string): string {
    return path.join(this.root, 'buckets', bucket);
  }

  async listBuckets(): Promise<BucketInfo[]> {
    const names = (await fsp.readdir(path.join(this.root, 'buckets'))).sort();
    const out: BucketInfo[] = [];
    for (const name of names) {
      const info = await this.bucketInfo(name);
      if (info) out.push(info);
    }
    return out;
  }

  private async bucketInfo(name: string): Promise<BucketInfo | null> {
    try {
      return JSON.parse(await fsp.readFile(path.join(this.bucketDir(name), 'bucket.json'), 'utf8')) as BucketInfo;
    } catch {
      return null;
    }
  }

  async createBucket(name: string): Promise<void> {
    checkBucketName(name);
    const dir = this.bucketDir(name);
    if (await this.bucketInfo(name)) throw new S3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', { BucketName: name });
    await fsp.mkdir(path.join(dir, 'meta'), { recursive: true, mode: 0o700 });
    await fsp.mkdir(path.join(dir, 'data'), { recursive: true, mode: 0o700 });
    // bucket.json last: a bucket exists once it is there.
    await writeFileAtomic(this.tmpDir, path.join(dir, 'bucket.json'), JSON.stringify({ name, created: new Date().toISOString() }));
  }

  /** Throws NoSuchBucket unless the bucket exists. */
  async requireBucket(name: string): Promise<Map<string, ObjectMeta>> {
    checkBucketName(name);
    const cached = this.index.get(name);
    if (cached) return cached;
    if (!(await this.bucketInfo(name))) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: name });
    const objects = new Map<string, ObjectMeta>();
    const metaDir = path.join(this.bucketDir(name), 'meta');
    for (const file of await fsp.readdir(metaDir)) {
      if (!file.endsWith('.json')) continue;
      const meta = JSON.parse(await fsp.readFile(path.join(metaDir, file), 'utf8')) as ObjectMeta;
      objects.set(meta.key, meta);
    }
    const raced = this.index.get(name);
    if (raced) return raced;
    this.index.set(name, objects);
    count(this.usage.tallies(name), [...objects.values()].reduce((n, m) => n + m.size, 0));
    return objects;
  }

  async deleteBucket(name: string, pendingUploads: number): Promise<void> {
    const objects = await this.requireBucket(name);
    if (objects.size > 0 || pendingUploads > 0) throw new S3Error('BucketNotEmpty', 'The bucket you tried to delete is not empty', { BucketName: name });
    this.index.delete(name);
    this.usage.forget(name);
    // bucket.json first: once it is gone the bucket no longer exists, even if removing the rest fails.
    await fsp.rm(path.join(this.bucketDir(name), 'bucket.json'), { force: true });
    await fsp.rm(this.bucketDir(name), { recursive: true, force: true });
  }

  async head(bucket: string, key: string): Promise<ObjectMeta> {
    checkKey(key);
    const meta = (await this.requireBucket(bucket)).get(key);
    if (!meta) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
    return meta;
  }

  /** Opens the object's bytes [start, end] (inclusive); the file stays readable if replaced meanwhile. */
  async open(bucket: string, meta: ObjectMeta, range?: { start: number; end: number }): Promise<Readable> {
    const file = path.join(this.bucketDir(bucket), 'data', meta.data);
    const fh = await fsp.open(file, 'r').catch(() => {
      throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: meta.key });
    });
    return fs.createReadStream('', { fd: fh, autoClose: true, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  /** Streams a new object to disk and makes it visible at once; returns its metadata. */
  async put(bucket: string, key: string, body: Readable | (() => AsyncIterable<Readable>), props: NewObject, opts: PutOptions = {}): Promise<ObjectMeta> {
    const { etagOf, reservation, onCommit } = opts;
    const data = randomUUID();
    const dataPath = path.join(this.bucketDir(bucket), 'data', data);
    let written: Written;
    try {
      checkKey(key);
      await this.requireBucket(bucket);
      written = await writeAtomic(this.tmpDir, dataPath, body);
    } catch (err) {
      // A body refused before it was read (a CopyObject's source file, say) must not keep its fd until GC.
      if (typeof body !== 'function') body.destroy();
      throw err;
    }
    const meta: ObjectMeta = { key, size: written.size, etag: etagOf ? etagOf(written) : written.md5, contentType: props.contentType, lastModified: new Date().toISOString(), userMeta: props.userMeta, data };
    // One commit (or delete) of a key at a time (turns.ts).
    const previous = await this.turns.run(`${bucket}/${key}`, async () => {
      try {
        await writeFileAtomic(this.tmpDir, this.metaPath(bucket, key), JSON.stringify(meta));
      } catch (err) {
        await fsp.rm(dataPath, { force: true });
        throw err;
      }
      // The bucket may have been deleted meanwhile: index only if it is still there. The counts change in this
      // same synchronous step: the reservation becomes the object's size, the replaced object's is given back.
      const objects = this.index.get(bucket);
      const replaced = objects?.get(key);
      objects?.set(key, meta);
      reservation?.release();
      if (objects) count(this.usage.tallies(bucket), meta.size - (replaced?.size ?? 0));
      onCommit?.();
      return replaced;
    });
    if (previous) await fsp.rm(path.join(this.bucketDir(bucket), 'data', previous.data), { force: true });
    return meta;
  }

  /** Removes an object; returns whether there was one. */
  async delete(bucket: string, key: string): Promise<boolean> {
    checkKey(key);
    const objects = await this.requireBucket(bucket);
    const meta = await this.turns.run(`${bucket}/${key}`, async () => {
      const found = objects.get(key);
      if (!found) return undefined;
      await fsp.rm(this.metaPath(bucket, key), { force: true });
      objects.delete(key);
      count(this.usage.tallies(bucket), -found.size);
      return found;
    });
    if (!meta) return false;
    await fsp.rm(path.join(this.bucketDir(bucket), 'data', meta.data), { force: true });
    return true;
  }

  private metaPath(bucket: string, key: string): string {
    return path.join(this.bucketDir(bucket), 'meta', `${keyFileName(key)}.json`);
  }
}
