// Small pieces shared by the S3 operations: the request context, XML and empty answers, headers in and
// out (user metadata, ranges), and reading a small XML body through the same checks as any upload.

import type http from 'node:http';
import { S3Error } from './errors.js';
import type { ObjectMeta, NewObject } from './object-store.js';
import { uploadBody, type BodyOptions } from './payload.js';
import type { KeyScope } from './scope.js';
import type { Query, SignedPayload } from './sigv4.js';

export interface S3Request {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  bucket: string;
  key: string;
  query: Query;
  /** What the verified signature says the body is (x-amz-content-sha256, the chunk signatures' seed). */
  payload: SignedPayload;
  /** What the request's access key may touch (checked by access.ts before routing). */
  scope: KeyScope;
}

/** S3's limit on the user-defined metadata of an object. */
const MAX_USER_META_BYTES = 2048;

export function q(query: Query, name: string): string | undefined {
  const v = query[name];
  return Array.isArray(v) ? v[0] : v;
}

export function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function sendXml(res: http.ServerResponse, status: number, xml: string): void {
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
  res.end(xml);
}

export function sendEmpty(res: http.ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.writeHead(status, { ...headers, 'content-length': 0 });
  res.end();
}

export function quoted(etag: string): string {
  return `"${etag}"`;
}

/** Content type and x-amz-meta-* of a new object, from the request headers. */
export function newObjectProps(req: http.IncomingMessage): NewObject {
  const userMeta: Record<string, string> = {};
  let bytes = 0;
  for (const [name, value] of Object.entries(req.headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const v = Array.isArray(value) ? value.join(',') : value;
    userMeta[name.slice('x-amz-meta-'.length)] = v;
    bytes += Buffer.byteLength(name) - 'x-amz-meta-'.length + Buffer.byteLength(v);
  }
  if (bytes > MAX_USER_META_BYTES) throw new S3Error('MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size (${MAX_USER_META_BYTES} bytes).`);
  return { contentType: header(req, 'content-type') ?? 'application/octet-stream', userMeta };
}

export function objectHeaders(meta: ObjectMeta): Record<string, string | number> {
  const h: Record<string, string | number> = {
    'content-type': meta.contentType,
    etag: quoted(meta.etag),
    'last-modified': new Date(meta.lastModified).toUTCString(),
    'accept-ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(meta.userMeta)) h[`x-amz-meta-${k}`] = v;
  return h;
}

/**
 * One byte range of `size` bytes from a Range header; undefined for none (or a form S3 ignores, such as
 * several ranges); InvalidRange when it starts past the end.
 */
export function parseRange(value: string | undefined, size: number): { start: number; end: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const unsatisfiable = () => new S3Error('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: value, ActualObjectSize: String(size) });
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) throw unsatisfiable();
  return { start, end: m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1) };
}

/** A small request body (XML of Complete/Delete), verified like any upload and bounded to `limit`. */
export async function readSmallBody(r: S3Request, limit: number, opts: BodyOptions = {}): Promise<string> {
  // Neither Content-Length nor Transfer-Encoding: HTTP says there is no body (curl -X PUT/POST sends so).
  if (r.req.headers['content-length'] === undefined && r.req.headers['transfer-encoding'] === undefined) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of uploadBody(r.req, r.payload, limit, opts)) {
    size += (chunk as Buffer).length;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
