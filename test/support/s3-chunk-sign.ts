// A client's side of signed aws-chunked bodies (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) for tests:
// the SDK for JavaScript v3 does not send them, so tests that need them build them here, the way AWS's
// "Transferring payload in multiple chunks" pages describe. test/unit/storage-payload.test.ts checks this
// signer against the signatures AWS publishes there, so it is not merely consistent with the server.

import { createHash, createHmac } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { getSigningKey } from '@smithy/signature-v4';
import type { TestKey } from './s3-sign.js';

const EMPTY = createHash('sha256').digest('hex');

export interface ChunkSigningContext {
  key: TestKey;
  /** x-amz-date of the request, yyyyMMddTHHmmssZ. */
  amzDate: string;
  region: string;
  /** The request's own signature (from its Authorization header). */
  seed: string;
}

export interface SignedChunk {
  data: Buffer;
  signature: string;
}

async function keyOf(ctx: ChunkSigningContext): Promise<Uint8Array> {
  return getSigningKey(Sha256, ctx.key, ctx.amzDate.slice(0, 8), ctx.region, 's3');
}

const scopeOf = (ctx: ChunkSigningContext) => `${ctx.amzDate.slice(0, 8)}/${ctx.region}/s3/aws4_request`;

/** The chunks of `data` (`size` bytes each, then the final empty one) with their chained signatures. */
export async function signChunks(ctx: ChunkSigningContext, data: Buffer, size: number): Promise<SignedChunk[]> {
  const key = await keyOf(ctx);
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) pieces.push(data.subarray(at, at + size));
  pieces.push(Buffer.alloc(0));
  let previous = ctx.seed;
  return pieces.map((piece) => {
    const sts = `AWS4-HMAC-SHA256-PAYLOAD\n${ctx.amzDate}\n${scopeOf(ctx)}\n${previous}\n${EMPTY}\n${createHash('sha256').update(piece).digest('hex')}`;
    previous = createHmac('sha256', key).update(sts).digest('hex');
    return { data: piece, signature: previous };
  });
}

/** The signature of a trailer (`name:value` lines) following the chunk signed `previous`. */
export async function signTrailer(ctx: ChunkSigningContext, previous: string, trailers: [string, string][]): Promise<string> {
  const canonical = trailers.map(([n, v]) => `${n}:${v}\n`).join('');
  const sts = `AWS4-HMAC-SHA256-TRAILER\n${ctx.amzDate}\n${scopeOf(ctx)}\n${previous}\n${createHash('sha256').update(canonical).digest('hex')}`;
  return createHmac('sha256', await keyOf(ctx)).update(sts).digest('hex');
}

/** The aws-chunked body of signed chunks, with trailer lines (and their signature) when given. */
export function encodeSigned(chunks: SignedChunk[], trailer?: { lines: [string, string][]; signature: string }): Buffer {
  const parts: Buffer[] = [];
  chunks.forEach((c, i) => {
    parts.push(Buffer.from(`${c.data.length.toString(16)};chunk-signature=${c.signature}\r\n`), c.data);
    if (i < chunks.length - 1) parts.push(Buffer.from('\r\n'));
  });
  if (trailer) for (const [n, v] of [...trailer.lines, ['x-amz-trailer-signature', trailer.signature]]) parts.push(Buffer.from(`${n}:${v}\r\n`));
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

/** An unsigned aws-chunked body (STREAMING-UNSIGNED-PAYLOAD-TRAILER) with its trailer lines. */
export function encodeUnsigned(data: Buffer, size: number, trailers: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) {
    const piece = data.subarray(at, at + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n'), ...trailers.map(([n, v]) => Buffer.from(`${n}:${v}\r\n`)), Buffer.from('\r\n'));
  return Buffer.concat(parts);
}
