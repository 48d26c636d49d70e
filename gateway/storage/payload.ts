// The body of an upload as a stream of the object's bytes, checked while it flows: its size against the
// object bound, its SHA-256 against x-amz-content-sha256 (when a digest was signed), Content-MD5 and an
// x-amz-checksum-crc32 header or trailer when given. aws-chunked bodies (STREAMING-UNSIGNED-PAYLOAD-TRAILER:
// what the AWS SDK v3 sends for a stream body) are decoded here. A failed check errors the stream at its
// end, before the store renames anything into place, so a body that does not match is never visible.

import { createHash } from 'node:crypto';
import type http from 'node:http';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import { AwsChunkedDecoder } from './aws-chunked.js';
import { S3Error } from './errors.js';

const HEX64 = /^[0-9a-f]{64}$/;
const UNSIGNED_MODES = new Set(['UNSIGNED-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']);

/** The request body, decoded and verified; `maxBytes` bounds the decoded size. */
export function uploadBody(req: http.IncomingMessage, payloadHash: string, maxBytes: number): Readable {
  const chunked = payloadHash === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' || /\baws-chunked\b/.test(String(req.headers['content-encoding'] ?? ''));
  if (!HEX64.test(payloadHash) && !UNSIGNED_MODES.has(payloadHash)) {
    throw new S3Error('InvalidArgument', `x-amz-content-sha256 must be a hex SHA-256, UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER, not ${payloadHash}.`);
  }
  const declared = chunked ? req.headers['x-amz-decoded-content-length'] : req.headers['content-length'];
  if (declared === undefined && !chunked && req.headers['transfer-encoding'] === undefined) {
    throw new S3Error('MissingContentLength', 'You must provide the Content-Length HTTP header.');
  }
  const length = declared === undefined ? undefined : Number(declared);
  if (length !== undefined && !(Number.isSafeInteger(length) && length >= 0)) throw new S3Error('InvalidArgument', 'The content length is not a whole number.');
  if (length !== undefined && length > maxBytes) throw new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed object size (${maxBytes} bytes).`, { MaxSizeAllowed: String(maxBytes), ProposedSize: String(length) });

  const decoder = chunked ? new AwsChunkedDecoder() : null;
  const check = new BodyCheck({
    maxBytes,
    length,
    sha256: HEX64.test(payloadHash) && !chunked ? payloadHash : undefined,
    md5: headerOf(req, 'content-md5'),
    crc32: headerOf(req, 'x-amz-checksum-crc32') ?? (decoder ? () => decoder.trailers.get('x-amz-checksum-crc32') : undefined),
  });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  // A small body can fail its check before the store has attached (it opens its temp file first): the
  // error is kept on the destroyed stream and reaches the consumer when it attaches, so none is unhandled.
  out.on('error', () => {});
  // Any failure along the way (a check, a malformed chunk, a client gone mid-upload) errors what the store
  // reads. Listeners stay on (not once): a stream may emit more than one error while it winds down.
  const fail = (err: Error) => {
    if (!out.destroyed) out.destroy(err);
  };
  req.on('aborted', () => fail(new S3Error('IncompleteBody', 'The request body ended before Content-Length bytes arrived.')));
  req.on('error', fail);
  decoder?.on('error', fail);
  check.on('error', fail);
  (decoder ? req.pipe(decoder) : req).pipe(check).pipe(out);
  return out;
}

function headerOf(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

interface CheckOptions {
  maxBytes: number;
  length: number | undefined;
  sha256: string | undefined;
  md5: string | undefined;
  /** The expected CRC32 (base64); a function when it arrives in a trailer after the body. */
  crc32: string | (() => string | undefined) | undefined;
}

class BodyCheck extends Transform {
  private size = 0;
  private readonly sha = createHash('sha256');
  private readonly md5 = createHash('md5');
  private crc = 0;

  constructor(private readonly opts: CheckOptions) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.opts.maxBytes) return done(new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed object size (${this.opts.maxBytes} bytes).`));
    if (this.opts.sha256) this.sha.update(chunk);
    if (this.opts.md5) this.md5.update(chunk);
    if (this.opts.crc32) this.crc = crc32(chunk, this.crc);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const { length, sha256, md5 } = this.opts;
    if (length !== undefined && this.size !== length) return done(new S3Error('IncompleteBody', `The body had ${this.size} bytes; ${length} were declared.`));
    if (sha256 && this.sha.digest('hex') !== sha256) return done(new S3Error('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.'));
    if (md5 && this.md5.digest('base64') !== md5) return done(new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.'));
    const crcWanted = typeof this.opts.crc32 === 'function' ? this.opts.crc32() : this.opts.crc32;
    if (crcWanted !== undefined) {
      const got = Buffer.alloc(4);
      got.writeUInt32BE(this.crc >>> 0);
      if (got.toString('base64') !== crcWanted) return done(new S3Error('BadDigest', 'The CRC32 you specified did not match the calculated checksum.'));
    }
    done();
  }
}
