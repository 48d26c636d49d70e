// The signature chain of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) body. The request's own signature
// (the seed) signs the headers; each chunk is then signed with the same derived key over the previous
// signature and the chunk's SHA-256, so a chunk cannot be changed, dropped, reordered or appended without
// the secret; the final zero-length chunk and the trailer (its own string, AWS4-HMAC-SHA256-TRAILER) close
// the chain. The signing key comes from @smithy/signature-v4 (the SDK's derivation); each link is one
// HMAC-SHA256 of node:crypto, compared in constant time.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { S3Error } from './errors.js';

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** What the request's verified signature hands to the body: enough to check each link of the chain. */
export interface ChunkSeed {
  /** The SigV4 signing key (HMAC of the secret over date, region, service, aws4_request). */
  signingKey: Uint8Array;
  /** x-amz-date as signed, yyyyMMddTHHmmssZ. */
  amzDate: string;
  /** yyyymmdd/region/s3/aws4_request. */
  scope: string;
  /** The request's signature, hex. */
  seed: string;
}

export class ChunkChain {
  private previous: string;

  constructor(private readonly seed: ChunkSeed) {
    this.previous = seed.seed;
  }

  /** Checks the signature of the next chunk (its data's SHA-256, hex) and moves the chain on. */
  chunk(dataSha256: string, given: string): void {
    this.link(`AWS4-HMAC-SHA256-PAYLOAD\n${this.seed.amzDate}\n${this.seed.scope}\n${this.previous}\n${EMPTY_SHA256}\n${dataSha256}`, given, 'chunk');
  }

  /** Checks the trailer's signature over its canonical lines (`name:value\n` each, as received). */
  trailer(canonical: string, given: string): void {
    const hash = createHash('sha256').update(canonical, 'utf8').digest('hex');
    this.link(`AWS4-HMAC-SHA256-TRAILER\n${this.seed.amzDate}\n${this.seed.scope}\n${this.previous}\n${hash}`, given, 'trailer');
  }

  private link(stringToSign: string, given: string, what: string): void {
    const expected = createHmac('sha256', this.seed.signingKey).update(stringToSign, 'utf8').digest();
    const got = /^[0-9a-f]{64}$/.test(given) ? Buffer.from(given, 'hex') : Buffer.alloc(0);
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new S3Error('SignatureDoesNotMatch', `The ${what} signature we calculated does not match the one you provided: the body is not the one that was signed.`);
    }
    this.previous = given;
  }
}
