// ListObjectsV2 over a bucket's index: keys in UTF-8 binary order (S3's), filtered by prefix, grouped by
// delimiter into CommonPrefixes, paged by max-keys with an opaque continuation token (the last key or
// prefix returned, base64url).

import { S3Error } from './errors.js';
import type { ObjectMeta } from './object-store.js';

export interface ListQuery {
  prefix: string;
  delimiter: string;
  maxKeys: number;
  /** Keys at or before this are skipped (continuation token or start-after). */
  after: string;
}

export interface ListResult {
  contents: ObjectMeta[];
  commonPrefixes: string[];
  truncated: boolean;
  nextToken: string | undefined;
}

export function encodeToken(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

export function decodeToken(token: string): string {
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (!key || encodeToken(key) !== token) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect.', { ArgumentName: 'continuation-token' });
  return key;
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

export function listObjects(objects: Map<string, ObjectMeta>, q: ListQuery): ListResult {
  const keys = [...objects.keys()].filter((k) => k.startsWith(q.prefix) && (q.after === '' || byBytes(k, q.after) > 0)).sort(byBytes);
  const contents: ObjectMeta[] = [];
  const commonPrefixes: string[] = [];
  let last = '';
  let truncated = false;
  for (const key of keys) {
    let prefix: string | undefined;
    if (q.delimiter) {
      const at = key.indexOf(q.delimiter, q.prefix.length);
      if (at !== -1) prefix = key.slice(0, at + q.delimiter.length);
    }
    // Keys under a prefix already returned (on this page or, via the token, an earlier one) are skipped.
    if (prefix !== undefined && (prefix === commonPrefixes.at(-1) || q.after.startsWith(prefix))) continue;
    if (contents.length + commonPrefixes.length >= q.maxKeys) {
      truncated = true;
      break;
    }
    if (prefix !== undefined) {
      commonPrefixes.push(prefix);
      last = prefix;
    } else {
      contents.push(objects.get(key)!);
      last = key;
    }
  }
  return { contents, commonPrefixes, truncated, nextToken: truncated && last ? encodeToken(last) : undefined };
}
