// The body of a request as a stream of the object's bytes, checked while it flows. What the body must be is
// decided by the signed x-amz-content-sha256 alone, never by an unsigned header such as Content-Encoding:
//   <hex SHA-256>                                the raw body must hash to it (XAmzContentSHA256Mismatch)
//   UNSIGNED-PAYLOAD                             the raw body, unsigned (as S3 allows: the client's choice)
//   STREAMING-UNSIGNED-PAYLOAD-TRAILER           aws-chunked, unsigned, its declared checksum trailer checked
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] aws-chunked, every chunk's signature (and the trailer's) checked
// Whatever the mode, its size is checked against the declared length and the object bound, Content-MD5 and
// every x-amz-checksum-* header or trailer against the bytes. A failed check errors the stream before its
// end, so the store never renames the body into place: a body that does not match is never visible.

import { createHash } from 'node:crypto';
import type http from 'node:http';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { AwsChunkedDecoder } from './aws-chunked.js';
import { ChecksumSet, checksumHeaderNames, isChecksumName } from './checksums.js';
import { ChunkChain } from './chunk-signature.js';
import { S3Error } from './errors.js';
import { PAYLOAD, type SignedPayload } from './sigv4.js';

const HEX64 = /^[0-9a-f]{64}$/;

export interface BodyOptions {
  /**
   * Whether x-amz-checksum-* headers describe this body (PutObject, UploadPart, DeleteObjects). On
   * CompleteMultipartUpload they describe the object being assembled, not the XML sent: false there.
   */
  checksumHeaders?: boolean;
}

/** The request body, decoded and verified; `maxBytes` bounds the decoded size. */
export function uploadBody(req: http.IncomingMessage, payload: SignedPayload, maxBytes: number, opts: BodyOptions = {}): Readable {
  const mode = payload.hash;
  const streaming = mode.startsWith('STREAMING-');
  if (!streaming && contentEncodings(req).includes('aws-chunked')) {
    throw new S3Error('InvalidArgument', `Content-Encoding aws-chunked needs a STREAMING-… x-amz-content-sha256; this request signed ${HEX64.test(mode) ? 'the SHA-256 of its body' : mode}.`, { ArgumentName: 'Content-Encoding' });
  }
  const length = declaredLength(req, streaming);
  if (length !== undefined && length > maxBytes) throw new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed object size (${maxBytes} bytes).`, { MaxSizeAllowed: String(maxBytes), ProposedSize: String(length) });

  const withTrailer = mode === PAYLOAD.unsignedTrailer || mode === PAYLOAD.signedTrailer;
  const declared = new Set(withTrailer ? declaredTrailers(req) : []);
  const headerSums = opts.checksumHeaders === false ? [] : checksumHeaderNames(req.headers);
  const md5 = headerOf(req, 'content-md5');
  if (md5 !== undefined && !isMd5(md5)) throw new S3Error('InvalidDigest', 'The Content-MD5 you specified is not valid.');

  let decoder: AwsChunkedDecoder | null = null;
  if (streaming) {
    const signed = mode === PAYLOAD.signed || mode === PAYLOAD.signedTrailer;
    if (signed && !payload.chunks) throw new Error('a signed chunk stream without its seed signature');
    decoder = new AwsChunkedDecoder({ chain: signed ? new ChunkChain(payload.chunks!) : undefined, declared, signedTrailer: mode === PAYLOAD.signedTrailer });
  }
  const d = decoder;
  const check = new BodyCheck({
    maxBytes,
    length,
    sha256: HEX64.test(mode) ? mode : undefined,
    md5,
    checksums: new ChecksumSet(new Set([...headerSums, ...declared])),
    expected: () => [new Map(headerSums.map((n) => [n, headerOf(req, n)!])), arrivedTrailers(declared, d)],
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

/** The decoded size the client declared: x-amz-decoded-content-length for aws-chunked, else Content-Length. */
function declaredLength(req: http.IncomingMessage, streaming: boolean): number | undefined {
  const decoded = headerOf(req, 'x-amz-decoded-content-length');
  const plain = headerOf(req, 'content-length');
  if (streaming && decoded === undefined) throw new S3Error('MissingContentLength', 'An aws-chunked upload must declare its size in x-amz-decoded-content-length.');
  if (!streaming && plain === undefined && req.headers['transfer-encoding'] === undefined) throw new S3Error('MissingContentLength', 'You must provide the Content-Length HTTP header.');
  const parse = (v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = /^\d{1,16}$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) throw new S3Error('InvalidArgument', 'The content length is not a whole number.');
    return n;
  };
  if (streaming) return parse(decoded);
  // A plain body's x-amz-decoded-content-length, if sent, must say the same as its Content-Length.
  const length = parse(plain);
  const claimed = parse(decoded);
  if (claimed !== undefined && length !== undefined && claimed !== length) throw new S3Error('InvalidArgument', 'x-amz-decoded-content-length differs from Content-Length on a body that is not aws-chunked.');
  return length ?? claimed;
}

/** The declared trailers as they arrived; one declared but missing is refused (its check would be skipped). */
function arrivedTrailers(declared: ReadonlySet<string>, decoder: AwsChunkedDecoder | null): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of declared) {
    const value = decoder?.trailers.get(name);
    if (value === undefined) throw new S3Error('InvalidRequest', `The trailer ${name} declared in x-amz-trailer did not arrive.`);
    out.set(name, value);
  }
  return out;
}

function declaredTrailers(req: http.IncomingMessage): string[] {
  const raw = headerOf(req, 'x-amz-trailer');
  if (raw === undefined) return [];
  const names = raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const n of names) if (!isChecksumName(n)) throw new S3Error('InvalidRequest', `x-amz-trailer may name one of S3's checksums (x-amz-checksum-crc32, …), not ${n.slice(0, 64)}.`);
  return names;
}

function contentEncodings(req: http.IncomingMessage): string[] {
  return String(req.headers['content-encoding'] ?? '').split(',').map((s) => s.trim().toLowerCase());
}

function isMd5(value: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(value);
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
  checksums: ChecksumSet;
  /** The checksums to compare at the end: from the headers, and from the trailer once it has arrived. */
  expected: () => ReadonlyMap<string, string>[];
}

class BodyCheck extends Transform {
  private size = 0;
  private readonly sha = createHash('sha256');
  private readonly md5 = createHash('md5');

  constructor(private readonly opts: CheckOptions) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.opts.maxBytes) return done(new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed object size (${this.opts.maxBytes} bytes).`));
    if (this.opts.sha256) this.sha.update(chunk);
    if (this.opts.md5) this.md5.update(chunk);
    if (this.opts.checksums.size > 0) this.opts.checksums.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.finish().then(() => done(), (err: Error) => done(err));
  }

  private async finish(): Promise<void> {
    const { length, sha256, md5 } = this.opts;
    if (length !== undefined && this.size !== length) throw new S3Error('IncompleteBody', `The body had ${this.size} bytes; ${length} were declared.`);
    if (sha256 && this.sha.digest('hex') !== sha256) throw new S3Error('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
    if (md5 && this.md5.digest('base64') !== md5) throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
    for (const expected of this.opts.expected()) await this.opts.checksums.verify(expected);
  }
}
