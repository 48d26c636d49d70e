// Decoder of the aws-chunked content encoding (STREAMING-UNSIGNED-PAYLOAD-TRAILER): `<hex size>[;ext]\r\n`
// `<data>\r\n` … `0\r\n`, then trailer lines `name:value\r\n` and an empty line. The AWS SDK v3 sends a
// stream body this way, with its CRC32 in the trailer (kept in `trailers` for the body check).

import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from './errors.js';

const MAX_LINE = 4096;

export class AwsChunkedDecoder extends Transform {
  readonly trailers = new Map<string, string>();
  private state: 'size' | 'data' | 'crlf' | 'trailer' | 'done' = 'size';
  private remaining = 0;
  private line = '';

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let i = 0;
    try {
      while (i < chunk.length) {
        if (this.state === 'data') {
          const n = Math.min(this.remaining, chunk.length - i);
          this.push(chunk.subarray(i, i + n));
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'crlf';
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

  private onLine(line: string): void {
    if (this.state === 'crlf') {
      if (line !== '') throw bad('a chunk is longer than its declared size');
      this.state = 'size';
    } else if (this.state === 'size') {
      const m = /^([0-9a-fA-F]{1,16})(;.*)?$/.exec(line);
      if (!m) throw bad('a chunk size line is malformed');
      this.remaining = parseInt(m[1]!, 16);
      this.state = this.remaining === 0 ? 'trailer' : 'data';
    } else if (this.state === 'trailer') {
      if (line === '') {
        this.state = 'done';
        return;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) throw bad('a trailer line is malformed');
      this.trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
  }

  override _flush(done: TransformCallback): void {
    // Some clients end the body right after the trailers, without the final empty line.
    if (this.state !== 'done' && !(this.state === 'trailer' && this.line === '')) return done(new S3Error('IncompleteBody', 'The aws-chunked body ended before its last chunk.'));
    done();
  }
}

function bad(what: string): S3Error {
  return new S3Error('InvalidRequest', `The aws-chunked body is malformed: ${what}.`);
}
