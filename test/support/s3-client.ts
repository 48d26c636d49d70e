// An AWS SDK v3 S3 client for a Stratus storage endpoint (path-style, one attempt: a refusal is seen as the
// server answered it, not retried) and the S3 error a refused call raised.

import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import type { TestKey } from './s3-sign.js';

export function s3Client(endpoint: string, key: TestKey): S3Client {
  return new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: key, maxAttempts: 1 });
}

/** The S3 error `p` failed with (the test fails if it succeeded or failed otherwise). */
export async function s3Error(p: Promise<unknown>): Promise<S3ServiceException> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err, 'the request should have failed').toBeInstanceOf(S3ServiceException);
  return err as S3ServiceException;
}
