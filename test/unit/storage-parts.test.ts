// The pure pieces of the object storage: listing (delimiter, paging across common prefixes), continuation
// tokens, Range parsing and S3's bucket-name and key rules (the aws-chunked decoder: storage-payload.test.ts).

import { describe, expect, it } from 'vitest';
import { S3Error } from '../../services/storage/errors.js';
import { parseRange } from '../../services/storage/http-util.js';
import { decodeToken, encodeToken, listObjects } from '../../services/storage/list.js';
import { checkBucketName, checkKey, keyFileName } from '../../services/storage/names.js';
import type { ObjectMeta } from '../../services/storage/object-store.js';

const index = (keys: string[]) => new Map(keys.map((key): [string, ObjectMeta] => [key, { key, size: 1, etag: 'e', contentType: 't', lastModified: 'now', userMeta: {}, data: 'd' }]));

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof S3Error ? err.code : `not an S3Error: ${String(err)}`;
  }
  return undefined;
}

describe('listObjects', () => {
  const objects = index(['a/1', 'a/2', 'b', 'c/x/1', 'c/y', 'd']);

  it('groups by delimiter and counts a common prefix once toward max-keys', () => {
    const all = listObjects(objects, { prefix: '', delimiter: '/', maxKeys: 1000, after: '' });
    expect(all.contents.map((c) => c.key)).toEqual(['b', 'd']);
    expect(all.commonPrefixes).toEqual(['a/', 'c/']);
    expect(all.truncated).toBe(false);
  });

  it('pages through prefixes and keys with the token, never repeating a prefix', () => {
    const seen: string[] = [];
    let after = '';
    for (let page = 0; page < 10; page++) {
      const r = listObjects(objects, { prefix: '', delimiter: '/', maxKeys: 1, after });
      seen.push(...r.commonPrefixes, ...r.contents.map((c) => c.key));
      if (!r.truncated) break;
      after = decodeToken(r.nextToken!);
    }
    expect(seen).toEqual(['a/', 'b', 'c/', 'd']);
  });

  it('lists under a prefix with the delimiter after it', () => {
    const r = listObjects(objects, { prefix: 'c/', delimiter: '/', maxKeys: 1000, after: '' });
    expect(r.commonPrefixes).toEqual(['c/x/']);
    expect(r.contents.map((c) => c.key)).toEqual(['c/y']);
  });

  it('refuses a token it did not make', () => {
    expect(decodeToken(encodeToken('a/2'))).toBe('a/2');
    expect(code(() => decodeToken('!!not base64url'))).toBe('InvalidArgument');
  });
});

describe('parseRange', () => {
  it('takes first-last, first- and -suffix, clamped to the size', () => {
    expect(parseRange('bytes=0-4', 10)).toEqual({ start: 0, end: 4 });
    expect(parseRange('bytes=5-', 10)).toEqual({ start: 5, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=8-100', 10)).toEqual({ start: 8, end: 9 });
    expect(parseRange('bytes=-100', 10)).toEqual({ start: 0, end: 9 });
  });

  it('ignores what S3 ignores and refuses a start past the end', () => {
    expect(parseRange(undefined, 10)).toBeUndefined();
    expect(parseRange('bytes=0-1,3-4', 10)).toBeUndefined();
    expect(parseRange('bytes=5-2', 10)).toBeUndefined();
    expect(code(() => parseRange('bytes=10-', 10))).toBe('InvalidRange');
    expect(code(() => parseRange('bytes=-0', 10))).toBe('InvalidRange');
  });
});

describe('names', () => {
  it('follows S3 bucket naming rules', () => {
    for (const ok of ['abc', 'my-bucket.logs', 'a'.repeat(63), '1bucket']) expect(code(() => checkBucketName(ok)), ok).toBeUndefined();
    for (const bad of ['ab', 'a'.repeat(64), 'Upper', 'under_score', '-start', 'end-', 'two..dots', '192.168.1.1', 'xn--punycode', 'x-s3alias', '../up']) {
      expect(code(() => checkBucketName(bad)), bad).toBe('InvalidBucketName');
    }
  });

  it('bounds keys to 1024 bytes and maps each to a fixed-length hex file name', () => {
    expect(code(() => checkKey(''))).toBe('InvalidArgument');
    expect(code(() => checkKey('é'.repeat(513)))).toBe('KeyTooLongError');
    for (const k of ['../../etc/passwd', '/abs', 'nul\u0000', 'x'.repeat(1024)]) expect(keyFileName(k)).toMatch(/^[0-9a-f]{64}$/);
  });
});
