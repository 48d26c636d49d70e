// The multipart upload operations over HTTP: CreateMultipartUpload (POST ?uploads), UploadPart (PUT
// ?partNumber&uploadId), CompleteMultipartUpload (POST ?uploadId, the part list checked), AbortMultipartUpload
// (DELETE ?uploadId) and ListParts (GET ?uploadId).

import { S3Error } from './errors.js';
import { newObjectProps, q, quoted, readSmallBody, sendEmpty, sendXml, type S3Request } from './http-util.js';
import type { Multipart } from './multipart.js';
import { MAX_PARTS } from './multipart.js';
import type { ObjectOps } from './object-ops.js';
import { declaredLength } from './metered.js';
import { uploadBody } from './payload.js';
import { parseXml, toXml } from './xml.js';

export class MultipartOps {
  constructor(private readonly multipart: Multipart, private readonly objectOps: ObjectOps, private readonly maxObjectBytes: number) {}

  async create(r: S3Request): Promise<void> {
    const props = newObjectProps(r.req);
    await readSmallBody(r, 0);
    const id = await this.multipart.create(r.bucket, r.key, props);
    sendXml(r.res, 200, toXml('InitiateMultipartUploadResult', { Bucket: r.bucket, Key: r.key, UploadId: id }));
  }

  async uploadPart(r: S3Request, uploadId: string): Promise<void> {
    const body = uploadBody(r.req, r.payload, this.maxObjectBytes);
    const etag = await this.multipart.uploadPart(r.bucket, r.key, uploadId, q(r.query, 'partNumber') ?? '', body, declaredLength(r.req, r.payload.hash));
    sendEmpty(r.res, 200, { etag: quoted(etag) });
  }

  async complete(r: S3Request, uploadId: string): Promise<void> {
    const doc = parseXml(await readSmallBody(r, 4 * 1024 * 1024, { checksumHeaders: false }), 'CompleteMultipartUpload');
    const parts = ((doc.Part ?? []) as { PartNumber?: unknown; ETag?: unknown }[]).map((p) => {
      const partNumber = Number(p.PartNumber);
      if (!Number.isInteger(partNumber) || typeof p.ETag !== 'string') throw new S3Error('MalformedXML', 'Each <Part> needs a <PartNumber> and an <ETag>.');
      return { partNumber, etag: p.ETag };
    });
    if (parts.length > MAX_PARTS) throw new S3Error('MalformedXML', `At most ${MAX_PARTS} parts.`);
    const meta = await this.multipart.complete(r.bucket, r.key, uploadId, parts);
    this.objectOps.announce('ObjectCreated:CompleteMultipartUpload', r.bucket, r.key, meta);
    sendXml(r.res, 200, toXml('CompleteMultipartUploadResult', { Location: `/${r.bucket}/${encodeURIComponent(r.key)}`, Bucket: r.bucket, Key: r.key, ETag: quoted(meta.etag) }));
  }

  async abort(r: S3Request, uploadId: string): Promise<void> {
    await this.multipart.abort(r.bucket, r.key, uploadId);
    sendEmpty(r.res, 204);
  }

  async listParts(r: S3Request, uploadId: string): Promise<void> {
    const parts = this.multipart.listParts(r.bucket, r.key, uploadId);
    sendXml(r.res, 200, toXml('ListPartsResult', {
      Bucket: r.bucket,
      Key: r.key,
      UploadId: uploadId,
      IsTruncated: false,
      Part: parts.map((p) => ({ PartNumber: p.partNumber, LastModified: p.lastModified, ETag: quoted(p.etag), Size: p.size })),
    }));
  }
}
