// Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket (BucketNotEmpty while it holds
// objects or unfinished multipart uploads), ListObjectsV2 (and the older ListObjects), GetBucketLocation.

import { S3Error } from './errors.js';
import { q, readSmallBody, sendEmpty, sendXml, type S3Request } from './http-util.js';
import { decodeToken, listObjects } from './list.js';
import type { Multipart } from './multipart.js';
import type { ObjectMeta, ObjectStore } from './object-store.js';
import { coversBucket } from './scope.js';
import { toXml } from './xml.js';

const OWNER = { ID: 'stratus', DisplayName: 'stratus' };
const MAX_LIST_KEYS = 1000;

export class BucketOps {
  constructor(private readonly objects: ObjectStore, private readonly multipart: Multipart) {}

  async listBuckets(r: S3Request): Promise<void> {
    // Only the buckets the key's scope covers: a scoped key does not learn the others' names.
    const buckets = (await this.objects.listBuckets()).filter((b) => coversBucket(r.scope, b.name));
    sendXml(r.res, 200, toXml('ListAllMyBucketsResult', { Owner: OWNER, Buckets: { Bucket: buckets.map((b) => ({ Name: b.name, CreationDate: b.created })) } }));
  }

  async create(r: S3Request): Promise<void> {
    await readSmallBody(r, 64 * 1024); // an optional CreateBucketConfiguration: one region here
    await this.objects.createBucket(r.bucket);
    sendEmpty(r.res, 200, { location: `/${r.bucket}` });
  }

  async head(r: S3Request): Promise<void> {
    await this.objects.requireBucket(r.bucket);
    sendEmpty(r.res, 200);
  }

  async delete(r: S3Request): Promise<void> {
    await this.objects.requireBucket(r.bucket);
    await this.objects.deleteBucket(r.bucket, this.multipart.countIn(r.bucket));
    sendEmpty(r.res, 204);
  }

  async location(r: S3Request): Promise<void> {
    await this.objects.requireBucket(r.bucket);
    sendXml(r.res, 200, toXml('LocationConstraint', {}));
  }

  async list(r: S3Request): Promise<void> {
    const objects = await this.objects.requireBucket(r.bucket);
    const v2 = q(r.query, 'list-type') === '2';
    const prefix = q(r.query, 'prefix') ?? '';
    const delimiter = q(r.query, 'delimiter') ?? '';
    const maxText = q(r.query, 'max-keys');
    const maxKeys = maxText === undefined ? MAX_LIST_KEYS : /^\d{1,9}$/.test(maxText) ? Math.min(Number(maxText), MAX_LIST_KEYS) : NaN;
    if (Number.isNaN(maxKeys)) throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys' });
    const encodingType = q(r.query, 'encoding-type');
    if (encodingType !== undefined && encodingType !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type' });
    const enc = (s: string) => (encodingType === 'url' ? encodeURIComponent(s) : s);
    const token = q(r.query, 'continuation-token');
    const startAfter = (v2 ? q(r.query, 'start-after') : q(r.query, 'marker')) ?? '';
    const after = v2 && token !== undefined ? decodeToken(token) : startAfter;
    const result = listObjects(objects, { prefix, delimiter, maxKeys, after });
    const contents = result.contents.map((m: ObjectMeta) => ({ Key: enc(m.key), LastModified: m.lastModified, ETag: `"${m.etag}"`, Size: m.size, StorageClass: 'STANDARD' }));
    const common = result.commonPrefixes.map((p) => ({ Prefix: enc(p) }));
    const body: Record<string, unknown> = { Name: r.bucket, Prefix: enc(prefix) };
    if (v2) {
      Object.assign(body, { KeyCount: contents.length + common.length, MaxKeys: maxKeys });
      if (token !== undefined) body.ContinuationToken = token;
      if (result.nextToken) body.NextContinuationToken = result.nextToken;
      if (startAfter) body.StartAfter = enc(startAfter);
    } else {
      Object.assign(body, { Marker: enc(startAfter), MaxKeys: maxKeys });
      const last = result.commonPrefixes.at(-1) ?? result.contents.at(-1)?.key;
      if (result.truncated && delimiter && last) body.NextMarker = enc(last);
    }
    if (delimiter) body.Delimiter = enc(delimiter);
    if (encodingType) body.EncodingType = encodingType;
    Object.assign(body, { IsTruncated: result.truncated, Contents: contents, CommonPrefixes: common });
    sendXml(r.res, 200, toXml('ListBucketResult', body));
  }
}
