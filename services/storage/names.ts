// S3's naming rules and the mapping of hostile object keys to safe file names. A key never becomes a
// path: its file name is the SHA-256 of the key, so `../../etc/passwd`, an absolute path, NUL or a
// 1 KiB key all land as 64 hex characters inside the bucket's directory; the key itself lives only in
// the metadata beside the data.

import { createHash } from 'node:crypto';
import { S3Error } from './errors.js';

export const MAX_KEY_BYTES = 1024;

/** S3's bucket naming rules (general purpose buckets). */
export function checkBucketName(name: string): void {
  const ok =
    name.length >= 3 &&
    name.length <= 63 &&
    /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name) &&
    !name.includes('..') &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) &&
    !name.startsWith('xn--') &&
    !name.startsWith('sthree-') &&
    !name.endsWith('-s3alias') &&
    !name.endsWith('--ol-s3');
  if (!ok) {
    throw new S3Error('InvalidBucketName', 'The specified bucket is not valid: use 3-63 characters of a-z, 0-9, "." and "-", starting and ending with a letter or digit, not shaped like an IP address.', { BucketName: name.slice(0, 100) });
  }
}

export function checkKey(key: string): void {
  if (key.length === 0) throw new S3Error('InvalidArgument', 'An object key must not be empty.');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError', `Your key is too long: at most ${MAX_KEY_BYTES} bytes of UTF-8.`);
}

/** The file name of a key's metadata inside its bucket. */
export function keyFileName(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
