// Decoder of the aws-chunked content encoding: `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n` … then a
// zero-length chunk, trailer lines `name:value\r\n` and an empty line. Which form a body must have is set by
// the signed x-amz-content-sha256, never by the (unsigned) Content-Encoding header:
//   STREAMING-UNSIGNED-PAYLOAD-TRAILER          chunks without signatures; trailers as declared
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD          every chunk signed (the final one too); no trailer
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  signed chunks, declared trailers, x-amz-trailer-signature
// Data is passed on as it arrives (no chunk is held in memory); a chunk whose signature fails errors the
// stream before it ends, and nothing downstream commits a body that did not end cleanly.

import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { EMPTY_SHA256, type ChunkChain } from './chunk-signature.js';
import { S3Error } from './errors.js';

const MAX_LINE = 4096;
const MAX_TRAILERS = 16;
const TRAILER_SIGNATURE = 'x-amz-trailer-signature';

export interface ChunkedOptions {
  /** The signature chain when chunks are signed; undefined for STREAMING-UNSIGNED-PAYLOAD-TRAILER. */
  chain?: ChunkChain;
  /** Trailer names the request declared in x-amz-trailer; any other trailer is refused. */
  declared?: ReadonlySet<string>;
  /** Whether the trailer is signed (…-PAYLOAD-TRAILER): an x-amz-trailer-signature line must close it. */
  signedTrailer?: boolean;
}

export class AwsChunkedDecoder extends Transform {
  readonly trailers = new Map<string, string>();
  private state: 'size' | 'data' | 'crlf' | 'trailer' | 'done' = 'size';
  private remaining = 0;
  private line = '';
  private chunkHash: Hash | null = null;
  private chunkSignature = '';
  private canonicalTrailer = '';
  private trailerSigned = false;

  constructor(private readonly opts: ChunkedOptions = {}) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let i = 0;
    try {
      while (i < chunk.length) {
        if (this.state === 'data') {
          const n = Math.min(this.remaining, chunk.length - i);
          const piece = chunk.subarray(i, i + n);
          this.chunkHash?.update(piece);
          this.push(piece);
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endOfData();
          continue;
        }
        if (this.state === 'done') throw bad('data after the last chunk');
        // Line-oriented states: size lines, the CRLF after data, trailer lines.
        const nl = chunk.indexOf(0x0a, i);
        const end = nl === -1 ? chunk.length : nl + 1;
        this.line += chunk.toString('latin1', i, end);
        i = end;
        if (this.line.length > MAX_LINE) throw bad('a chunk header line is too long');
        if (nl === -1) continue;
        const line = this.line.replace(/\r?\n$/, '');
        this.line = '';
        this.onLine(line);
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private endOfData(): void {
    if (this.chunkHash) this.opts.chain!.chunk(this.chunkHash.digest('hex'), this.chunkSignature);
    this.chunkHash = null;
    this.state = 'crlf';
  }

  private onLine(line: string): void {
    if (this.state === 'crlf') {
      if (line !== '') throw bad('a chunk is longer than its declared size');
      this.state = 'size';
    } else if (this.state === 'size') {
      this.onSize(line);
    } else if (this.state === 'trailer') {
      if (line === '') this.endOfTrailer();
      else this.onTrailer(line);
    }
  }

  private onSize(line: string): void {
    const signed = this.opts.chain !== undefined;
    const m = signed ? /^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$/.exec(line) : /^([0-9a-fA-F]{1,16})(;.*)?$/.exec(line);
    if (!m) throw bad(signed ? 'a chunk size line is malformed or has no chunk-signature' : 'a chunk size line is malformed');
    if (!signed && m[2]?.includes('chunk-signature=')) throw bad('a chunk is signed but x-amz-content-sha256 says its chunks are unsigned');
    const size = parseInt(m[1]!, 16);
    if (!Number.isSafeInteger(size)) throw bad('a chunk size is too large');
    if (signed) {
      this.chunkSignature = m[2]!;
      // The final, zero-length chunk is signed like any other: without it a body could be cut short.
      if (size === 0) this.opts.chain!.chunk(EMPTY_SHA256, this.chunkSignature);
      else this.chunkHash = createHash('sha256');
    }
    this.remaining = size;
    this.state = size === 0 ? 'trailer' : 'data';
  }

  private onTrailer(line: string): void {
    if (this.trailerSigned) throw bad('a trailer follows x-amz-trailer-signature');
    const colon = line.indexOf(':');
    if (colon <= 0) throw bad('a trailer line is malformed');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === TRAILER_SIGNATURE && this.opts.signedTrailer) {
      this.opts.chain!.trailer(this.canonicalTrailer, value);
      this.trailerSigned = true;
      return;
    }
    if (!this.opts.declared?.has(name)) throw new S3Error('InvalidRequest', `The trailer ${name.slice(0, 64)} was not declared in x-amz-trailer.`);
    if (this.trailers.has(name) || this.trailers.size >= MAX_TRAILERS) throw bad('a trailer is repeated');
    this.trailers.set(name, value);
    this.canonicalTrailer += `${name}:${value}\n`;
  }

  private endOfTrailer(): void {
    if (this.opts.signedTrailer && !this.trailerSigned) throw new S3Error('SignatureDoesNotMatch', 'The trailer has no x-amz-trailer-signature: the body is not the one that was signed.');
    this.state = 'done';
  }

  override _flush(done: TransformCallback): void {
    try {
      // Some clients end the body right after the trailers, without the final empty line.
      if (this.state === 'trailer' && this.line === '') this.endOfTrailer();
      if (this.state !== 'done') throw new S3Error('IncompleteBody', 'The aws-chunked body ended before its last chunk.');
      done();
    } catch (err) {
      done(err as Error);
    }
  }
}

function bad(what: string): S3Error {
  return new S3Error('InvalidRequest', `The aws-chunked body is malformed: ${what}.`);
}
