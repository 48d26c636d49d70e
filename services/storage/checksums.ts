// S3's additional checksums (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256, -sha512, -md5,
// -xxhash64, -xxhash3, -xxhash128): base64 of the big-endian digest of the object's bytes, sent as a header
// or as an aws-chunked trailer. The CRCs and xxHashes come from the AWS SDK's own implementations
// (@aws-crypto, @aws-sdk/crc64-nvme, @aws-sdk/checksums), the SHAs and MD5 from node:crypto.

import { createHash } from 'node:crypto';
import { AwsCrc32 } from '@aws-crypto/crc32';
import { AwsCrc32c } from '@aws-crypto/crc32c';
import { Xxh3_128, Xxh3_64, Xxh64 } from '@aws-sdk/checksums/xxh';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import { S3Error } from './errors.js';

interface Digest {
  update(data: Uint8Array): void;
  digest(): Promise<Uint8Array>;
}

interface Algorithm {
  /** Digest length in bytes: a value of another length is malformed, not merely wrong. */
  bytes: number;
  make(): Digest;
}

function nodeHash(name: 'sha1' | 'sha256' | 'sha512' | 'md5'): Digest {
  const h = createHash(name);
  return { update: (d) => void h.update(d), digest: async () => h.digest() };
}

const ALGORITHMS: Record<string, Algorithm> = {
  'x-amz-checksum-crc32': { bytes: 4, make: () => new AwsCrc32() },
  'x-amz-checksum-crc32c': { bytes: 4, make: () => new AwsCrc32c() },
  'x-amz-checksum-crc64nvme': { bytes: 8, make: () => new Crc64Nvme() },
  'x-amz-checksum-sha1': { bytes: 20, make: () => nodeHash('sha1') },
  'x-amz-checksum-sha256': { bytes: 32, make: () => nodeHash('sha256') },
  'x-amz-checksum-sha512': { bytes: 64, make: () => nodeHash('sha512') },
  'x-amz-checksum-md5': { bytes: 16, make: () => nodeHash('md5') },
  'x-amz-checksum-xxhash64': { bytes: 8, make: () => new Xxh64() },
  'x-amz-checksum-xxhash3': { bytes: 8, make: () => new Xxh3_64() },
  'x-amz-checksum-xxhash128': { bytes: 16, make: () => new Xxh3_128() },
  // The SDK's MD5 "checksum" goes by this name, as a header (checked as Content-MD5) or a trailer.
  'content-md5': { bytes: 16, make: () => nodeHash('md5') },
};
const KNOWN = 'crc32, crc32c, crc64nvme, sha1, sha256, sha512, md5, xxhash64, xxhash3, xxhash128';
/** x-amz-checksum-* headers that are not checksums of the body. */
const NOT_CHECKSUMS = new Set(['x-amz-checksum-type', 'x-amz-checksum-algorithm', 'x-amz-checksum-mode']);

const PREFIX = 'x-amz-checksum-';

/** Whether `name` (lower case) is one of the checksum headers. */
export function isChecksumName(name: string): boolean {
  return Object.hasOwn(ALGORITHMS, name);
}

/**
 * The checksum header names in a request's headers, refusing an algorithm S3 does not know.
 */
export function checksumHeaderNames(headers: Record<string, unknown>): string[] {
  return Object.keys(headers).filter((n) => n.startsWith(PREFIX) && !NOT_CHECKSUMS.has(n)).map((n) => {
    // Refused rather than ignored: a client that sent one expects it checked.
    if (!isChecksumName(n)) throw new S3Error('InvalidRequest', `${n.slice(0, 64)} is not a checksum S3 knows (${KNOWN}).`);
    return n;
  });
}

/** Computes every named checksum over the bytes fed to it and compares each with its expected value. */
export class ChecksumSet {
  private readonly digests = new Map<string, Digest>();
  private readonly results = new Map<string, string>();

  constructor(names: Iterable<string>) {
    for (const name of names) {
      const alg = ALGORITHMS[name];
      if (!alg) throw new S3Error('InvalidRequest', `${name.slice(0, 64)} is not a checksum S3 knows (${KNOWN}).`);
      this.digests.set(name, alg.make());
    }
  }

  get size(): number {
    return this.digests.size;
  }

  update(chunk: Uint8Array): void {
    for (const d of this.digests.values()) d.update(chunk);
  }

  /**
   * Compares each checksum named in `expected` (name → base64 value) with the bytes seen; throws
   * InvalidRequest for a malformed value, BadDigest for one that does not match. May be called more than
   * once (a header and a trailer of the same algorithm): each digest is computed once.
   */
  async verify(expected: ReadonlyMap<string, string>): Promise<void> {
    for (const [name, want] of expected) {
      checkFormat(name, want);
      const got = await this.result(name);
      if (got !== want) throw new S3Error('BadDigest', `The ${name.replace(PREFIX, '').toUpperCase()} you specified did not match the calculated checksum.`);
    }
  }

  private async result(name: string): Promise<string> {
    const cached = this.results.get(name);
    if (cached !== undefined) return cached;
    const digest = this.digests.get(name);
    if (!digest) throw new Error(`checksum ${name} was not computed`);
    const value = Buffer.from(await digest.digest()).toString('base64');
    this.results.set(name, value);
    return value;
  }
}

function checkFormat(name: string, value: string): void {
  const alg = ALGORITHMS[name]!;
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(value) ? Buffer.from(value, 'base64') : null;
  if (!bytes || bytes.length !== alg.bytes || bytes.toString('base64') !== value) throw new S3Error('InvalidRequest', `Value for ${name} header is invalid.`);
}
