// The storage as the dashboard sees it, in process: the same object store, quotas, size bound and object
// events the S3 endpoint uses (no HTTP to ourselves, no signature), so an object the console uploads is
// counted, bounded and announced exactly as a PutObject is — storage triggers fire the same. Failures are
// StratusErrors (the dashboard's vocabulary), translated from the store's S3 errors with their message.

import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { StratusError, type ErrorCode } from '../../core/errors.js';
import { S3Error, type S3ErrorCode } from './errors.js';
import { decodeToken, listObjects } from './list.js';
import { metered } from './metered.js';
import type { Multipart } from './multipart.js';
import type { ObjectOps } from './object-ops.js';
import type { BucketInfo, ObjectMeta, ObjectStore } from './object-store.js';

export interface BrowsePage {
  objects: ObjectMeta[];
  /** "Folders" under the prefix, when listed with a delimiter. */
  prefixes: string[];
  /** The token of the next page, if there is one. */
  next: string | undefined;
}

export interface BrowseQuery {
  prefix?: string;
  delimiter?: string;
  /** A token from an earlier page's `next`. */
  after?: string;
  limit?: number;
}

const MAX_PAGE = 1000;

const CODES: Partial<Record<S3ErrorCode, ErrorCode>> = {
  NoSuchBucket: 'NOT_FOUND',
  NoSuchKey: 'NOT_FOUND',
  InvalidBucketName: 'INVALID_REQUEST',
  InvalidArgument: 'INVALID_REQUEST',
  KeyTooLongError: 'INVALID_REQUEST',
  IncompleteBody: 'INVALID_REQUEST',
  BucketAlreadyOwnedByYou: 'CONFLICT',
  BucketNotEmpty: 'CONFLICT',
  EntityTooLarge: 'PAYLOAD_TOO_LARGE',
  // A quota is storage that is full: too large for what is left.
  QuotaExceeded: 'PAYLOAD_TOO_LARGE',
};

/** The store's S3Error as the dashboard's error; anything else passes unchanged. */
export function asStorageError(err: unknown): unknown {
  if (!(err instanceof S3Error)) return err;
  const code = CODES[err.code] ?? 'INTERNAL';
  return new StratusError(code, err.message, { s3Code: err.code, ...err.extra }, { cause: err });
}

async function translated<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw asStorageError(err);
  }
}

export class StorageBrowser {
  constructor(
    private readonly objects: ObjectStore,
    private readonly ops: ObjectOps,
    private readonly multipart: Multipart,
    /** The S3 endpoint's bound (STRATUS_S3_MAX_OBJECT_MB): an upload from the console has the same. */
    readonly maxObjectBytes: number,
  ) {}

  listBuckets(): Promise<BucketInfo[]> {
    return this.objects.listBuckets();
  }

  createBucket(name: string): Promise<void> {
    return translated(() => this.objects.createBucket(name));
  }

  deleteBucket(name: string): Promise<void> {
    return translated(async () => {
      await this.objects.requireBucket(name);
      await this.objects.deleteBucket(name, this.multipart.countIn(name));
    });
  }

  /** Bytes a bucket holds, as its quota counts them. */
  usedIn(bucket: string): number {
    return this.objects.usage.usedIn(bucket);
  }

  list(bucket: string, q: BrowseQuery = {}): Promise<BrowsePage> {
    return translated(async () => {
      const index = await this.objects.requireBucket(bucket);
      const after = q.after ? decodeToken(q.after) : '';
      const maxKeys = Math.max(1, Math.min(q.limit ?? MAX_PAGE, MAX_PAGE));
      const r = listObjects(index, { prefix: q.prefix ?? '', delimiter: q.delimiter ?? '', maxKeys, after });
      return { objects: r.contents, prefixes: r.commonPrefixes, next: r.nextToken };
    });
  }

  head(bucket: string, key: string): Promise<ObjectMeta> {
    return translated(() => this.objects.head(bucket, key));
  }

  /** The object's metadata and its bytes. */
  open(bucket: string, key: string): Promise<{ meta: ObjectMeta; body: Readable }> {
    return translated(async () => {
      const meta = await this.objects.head(bucket, key);
      return { meta, body: await this.objects.open(bucket, meta) };
    });
  }

  /**
   * Stores `body` as the object and announces ObjectCreated:Put, as PutObject does. `declared`: the length the
   * client announced, checked against the bound and reserved in the quotas before a byte is read.
   */
  put(bucket: string, key: string, body: Readable, contentType: string, declared: number | undefined): Promise<ObjectMeta> {
    return translated(async () => {
      if (declared !== undefined && declared > this.maxObjectBytes) {
        body.resume();
        throw tooLarge(this.maxObjectBytes, declared);
      }
      await this.objects.requireBucket(bucket);
      const reservation = this.objects.usage.reserve(bucket, declared ?? 0);
      let meta: ObjectMeta;
      try {
        meta = await this.objects.put(bucket, key, metered(bounded(body, this.maxObjectBytes), reservation), { contentType, userMeta: {} }, { reservation });
      } finally {
        reservation.release();
      }
      this.ops.announce('ObjectCreated:Put', bucket, key, meta);
      return meta;
    });
  }

  /** Removes the object (announcing ObjectRemoved:Delete); false when there was none. */
  delete(bucket: string, key: string): Promise<boolean> {
    return translated(async () => {
      const removed = await this.objects.delete(bucket, key);
      if (removed) this.ops.announce('ObjectRemoved:Delete', bucket, key);
      return removed;
    });
  }
}

function tooLarge(max: number, size?: number): S3Error {
  return new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed object size (${max} bytes, STRATUS_S3_MAX_OBJECT_MB).`, { MaxSizeAllowed: String(max), ...(size === undefined ? {} : { ProposedSize: String(size) }) });
}

/** `body` failing with EntityTooLarge at the first byte past `max` (a body without a declared length). */
function bounded(body: Readable, max: number): Readable {
  let seen = 0;
  const bound = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      seen += chunk.length;
      if (seen > max) return done(tooLarge(max));
      done(null, chunk);
    },
  });
  body.on('error', (err) => bound.destroy(err));
  body.on('aborted', () => bound.destroy(new S3Error('IncompleteBody', 'The upload ended before all its bytes arrived.')));
  return body.pipe(bound);
}
