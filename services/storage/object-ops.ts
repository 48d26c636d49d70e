// Object operations: PutObject, GetObject (one Range), HeadObject, DeleteObject, DeleteObjects, CopyObject
// (x-amz-copy-source, metadata COPY or REPLACE). Every change is announced on the events hub after it is
// durable.

import { pipeline } from 'node:stream/promises';
import type { StorageEventHub } from './events.js';
import { S3Error } from './errors.js';
import { header, newObjectProps, objectHeaders, parseRange, quoted, readSmallBody, sendEmpty, sendXml, type S3Request } from './http-util.js';
import type { ObjectMeta, ObjectStore } from './object-store.js';
import { declaredLength, metered } from './metered.js';
import { uploadBody } from './payload.js';
import { parseXml, toXml } from './xml.js';
import type { StorageEventName } from '../../core/ports/storage-events.js';

const MAX_DELETE_KEYS = 1000;

export class ObjectOps {
  constructor(private readonly objects: ObjectStore, private readonly events: StorageEventHub, private readonly maxObjectBytes: number) {}

  announce(name: StorageEventName, bucket: string, key: string, meta?: ObjectMeta): void {
    this.events.emit({ name, bucket, key, size: meta?.size ?? 0, etag: meta?.etag ?? '', time: meta?.lastModified ?? new Date().toISOString() });
  }

  async put(r: S3Request): Promise<void> {
    const props = newObjectProps(r.req);
    await this.objects.requireBucket(r.bucket);
    const body = uploadBody(r.req, r.payload, this.maxObjectBytes);
    // The quotas hold the declared length before a byte is read (or each chunk as it comes: metered.ts).
    const reservation = this.objects.usage.reserve(r.bucket, declaredLength(r.req, r.payload.hash) ?? 0);
    let meta: ObjectMeta;
    try {
      meta = await this.objects.put(r.bucket, r.key, metered(body, reservation), props, { reservation });
    } finally {
      reservation.release();
    }
    this.announce('ObjectCreated:Put', r.bucket, r.key, meta);
    sendEmpty(r.res, 200, { etag: quoted(meta.etag) });
  }

  async head(r: S3Request): Promise<void> {
    const meta = await this.objects.head(r.bucket, r.key);
    r.res.writeHead(200, { ...objectHeaders(meta), 'content-length': meta.size });
    r.res.end();
  }

  async get(r: S3Request): Promise<void> {
    const meta = await this.objects.head(r.bucket, r.key);
    let range: { start: number; end: number } | undefined;
    try {
      range = parseRange(header(r.req, 'range'), meta.size);
    } catch (err) {
      r.res.setHeader('content-range', `bytes */${meta.size}`);
      throw err;
    }
    // An empty object has no bytes to range over: answer it whole.
    const stream = await this.objects.open(r.bucket, meta, meta.size === 0 ? undefined : range);
    const headers = objectHeaders(meta);
    if (range && meta.size > 0) {
      r.res.writeHead(206, { ...headers, 'content-length': range.end - range.start + 1, 'content-range': `bytes ${range.start}-${range.end}/${meta.size}` });
    } else {
      r.res.writeHead(200, { ...headers, 'content-length': meta.size });
    }
    await pipeline(stream, r.res);
  }

  async delete(r: S3Request): Promise<void> {
    if (await this.objects.delete(r.bucket, r.key)) this.announce('ObjectRemoved:Delete', r.bucket, r.key);
    sendEmpty(r.res, 204);
  }

  async deleteMany(r: S3Request): Promise<void> {
    await this.objects.requireBucket(r.bucket);
    const doc = parseXml(await readSmallBody(r, 2 * 1024 * 1024), 'Delete');
    const list = (doc.Object ?? []) as { Key?: unknown }[];
    if (list.length === 0 || list.length > MAX_DELETE_KEYS) throw new S3Error('MalformedXML', `Delete takes 1 to ${MAX_DELETE_KEYS} <Object> elements.`);
    const quiet = String(doc.Quiet ?? 'false') === 'true';
    const deleted: { Key: string }[] = [];
    const errors: { Key: string; Code: string; Message: string }[] = [];
    for (const item of list) {
      const key = typeof item.Key === 'string' ? item.Key : String(item.Key ?? '');
      try {
        if (await this.objects.delete(r.bucket, key)) this.announce('ObjectRemoved:Delete', r.bucket, key);
        deleted.push({ Key: key });
      } catch (err) {
        if (!(err instanceof S3Error)) throw err;
        errors.push({ Key: key, Code: err.code, Message: err.message });
      }
    }
    sendXml(r.res, 200, toXml('DeleteResult', { ...(quiet ? {} : { Deleted: deleted }), Error: errors }));
  }

  async copy(r: S3Request, source: string): Promise<void> {
    const [srcBucket, srcKey] = parseCopySource(source);
    const src = await this.objects.head(srcBucket, srcKey);
    const directive = header(r.req, 'x-amz-metadata-directive') ?? 'COPY';
    if (directive !== 'COPY' && directive !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown metadata directive: use COPY or REPLACE.', { ArgumentName: 'x-amz-metadata-directive' });
    if (srcBucket === r.bucket && srcKey === r.key && directive === 'COPY') {
      throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
    }
    const props = directive === 'REPLACE' ? newObjectProps(r.req) : { contentType: src.contentType, userMeta: src.userMeta };
    await this.objects.requireBucket(r.bucket);
    const reservation = this.objects.usage.reserve(r.bucket, src.size);
    let meta: ObjectMeta;
    try {
      meta = await this.objects.put(r.bucket, r.key, metered(await this.objects.open(srcBucket, src), reservation), props, { reservation });
    } finally {
      reservation.release();
    }
    this.announce('ObjectCreated:Copy', r.bucket, r.key, meta);
    sendXml(r.res, 200, toXml('CopyObjectResult', { LastModified: meta.lastModified, ETag: quoted(meta.etag) }));
  }
}

/** `bucket/key` or `/bucket/key`, URL-encoded, perhaps with `?versionId=` (one version is kept). */
export function parseCopySource(raw: string): [string, string] {
  const path = raw.split('?')[0]!.replace(/^\//, '');
  const slash = path.indexOf('/');
  let bucket: string;
  let key: string;
  try {
    bucket = decodeURIComponent(path.slice(0, slash));
    key = decodeURIComponent(path.slice(slash + 1));
  } catch {
    throw new S3Error('InvalidArgument', 'x-amz-copy-source has a malformed percent-escape.', { ArgumentName: 'x-amz-copy-source' });
  }
  if (slash <= 0 || !key) throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', { ArgumentName: 'x-amz-copy-source' });
  return [bucket, key];
}
