// Which right a request needs, decided before the router picks an operation, from what the router itself
// dispatches on: the method and whether the path names a bucket and a key. On an object, GET and HEAD
// read and every other method writes (PUT, POST and DELETE: put, copy, delete, every multipart step —
// ListParts too, since it shows an upload in progress, a writer's state); on a bucket, GET and HEAD read
// (listing, HeadBucket, its location), POST writes (DeleteObjects) and PUT / DELETE manage (CreateBucket,
// DeleteBucket). A method the router does not take needs `write` and then answers MethodNotAllowed, so an
// operation added to the router later is never reachable with less than a reading method's right.
// CopyObject also reads its source bucket. The check runs before any lookup, so an out-of-scope key learns
// nothing — not even whether the bucket exists — and gets S3's AccessDenied.

import type http from 'node:http';
import { S3Error } from './errors.js';
import { parseCopySource } from './object-ops.js';
import { allows, coversBucket, type KeyScope, type Right } from './scope.js';
import type { Query } from './sigv4.js';

export function neededRight(method: string, key: string): Right {
  if (method === 'GET' || method === 'HEAD') return 'read';
  if (key) return 'write';
  return method === 'PUT' || method === 'DELETE' ? 'manage' : 'write';
}

/** Throws AccessDenied unless the key's scope allows this request. ListBuckets is filtered instead. */
export function authorize(scope: KeyScope, req: http.IncomingMessage, bucket: string, key: string, query: Query): void {
  if (!bucket) return; // ListBuckets: answered with the buckets in scope only
  const method = req.method ?? 'GET';
  const right = neededRight(method, key);
  // HeadBucket and GetBucketLocation: a key that may do anything in a bucket may know that it exists.
  const probe = !key && (method === 'HEAD' || (method === 'GET' && query.location !== undefined));
  const ok = probe ? coversBucket(scope, bucket) && scope.access.length > 0 : allows(scope, bucket, right);
  if (!ok) throw denied(`this access key may not ${right === 'manage' ? 'create or delete' : right} bucket ${bucket}: its scope is ${describe(scope)}`, bucket);
  const copySource = req.headers['x-amz-copy-source'];
  if (method === 'PUT' && key && typeof copySource === 'string') {
    const [srcBucket] = parseCopySource(copySource);
    if (!allows(scope, srcBucket, 'read')) throw denied(`this access key may not read the copy source's bucket ${srcBucket}: its scope is ${describe(scope)}`, srcBucket);
  }
}

function describe(scope: KeyScope): string {
  return `${scope.access.join('+') || 'nothing'} on ${scope.buckets.join(', ') || 'no bucket'}`;
}

function denied(message: string, bucket: string): S3Error {
  return new S3Error('AccessDenied', `Access Denied: ${message}.`, { BucketName: bucket.slice(0, 100) });
}
