// Path-style S3 routing: `/` is the service, `/<bucket>` a bucket, `/<bucket>/<key…>` an object; the
// method and a few query parameters (uploads, uploadId, delete, list-type, location) pick the operation.

import type { BucketOps } from './bucket-ops.js';
import { S3Error } from './errors.js';
import { header, q, type S3Request } from './http-util.js';
import type { MultipartOps } from './multipart-ops.js';
import type { ObjectOps } from './object-ops.js';

export interface Ops {
  buckets: BucketOps;
  objects: ObjectOps;
  multipart: MultipartOps;
}

/** Bucket and key of a raw (still percent-encoded) path. */
export function splitPath(rawPath: string): { bucket: string; key: string } {
  const rest = rawPath.replace(/^\/+/, '');
  const slash = rest.indexOf('/');
  try {
    if (slash === -1) return { bucket: decodeURIComponent(rest), key: '' };
    return { bucket: decodeURIComponent(rest.slice(0, slash)), key: decodeURIComponent(rest.slice(slash + 1)) };
  } catch {
    throw new S3Error('InvalidArgument', 'The path has a malformed percent-escape.');
  }
}

export async function route(r: S3Request, ops: Ops): Promise<void> {
  const method = r.req.method ?? 'GET';
  const has = (name: string) => r.query[name] !== undefined;
  if (!r.bucket) {
    if (method === 'GET') return ops.buckets.listBuckets(r);
    throw notAllowed(method, 'the service');
  }
  if (!r.key) {
    switch (method) {
      case 'PUT':
        return ops.buckets.create(r);
      case 'HEAD':
        return ops.buckets.head(r);
      case 'DELETE':
        return ops.buckets.delete(r);
      case 'GET':
        if (has('location')) return ops.buckets.location(r);
        if (has('uploads') || has('versions') || has('policy') || has('acl') || has('notification') || has('lifecycle') || has('cors')) throw notImplemented();
        return ops.buckets.list(r);
      case 'POST':
        if (has('delete')) return ops.objects.deleteMany(r);
        throw notImplemented();
      default:
        throw notAllowed(method, 'a bucket');
    }
  }
  const uploadId = q(r.query, 'uploadId');
  switch (method) {
    case 'PUT': {
      const copySource = header(r.req, 'x-amz-copy-source');
      if (uploadId !== undefined) {
        if (copySource !== undefined) throw notImplemented('UploadPartCopy');
        return ops.multipart.uploadPart(r, uploadId);
      }
      if (has('tagging') || has('acl') || has('retention') || has('legal-hold')) throw notImplemented();
      if (copySource !== undefined) return ops.objects.copy(r, copySource);
      return ops.objects.put(r);
    }
    case 'GET':
      if (uploadId !== undefined) return ops.multipart.listParts(r, uploadId);
      if (has('tagging') || has('acl') || has('attributes')) throw notImplemented();
      return ops.objects.get(r);
    case 'HEAD':
      return ops.objects.head(r);
    case 'DELETE':
      if (uploadId !== undefined) return ops.multipart.abort(r, uploadId);
      return ops.objects.delete(r);
    case 'POST':
      if (has('uploads')) return ops.multipart.create(r);
      if (uploadId !== undefined) return ops.multipart.complete(r, uploadId);
      throw notImplemented();
    default:
      throw notAllowed(method, 'an object');
  }
}

function notAllowed(method: string, what: string): S3Error {
  return new S3Error('MethodNotAllowed', `The specified method (${method.slice(0, 20)}) is not allowed against ${what}.`);
}

function notImplemented(what = 'this operation'): S3Error {
  return new S3Error('NotImplemented', `A header or query you provided implies functionality that is not implemented: Stratus storage does not offer ${what}.`);
}
