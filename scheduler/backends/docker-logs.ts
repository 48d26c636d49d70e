// What Docker instances write, followed as lines: one `docker logs --follow` stream per running instance,
// opened only while someone listens (a platform that collects no logs pays nothing), demultiplexed and
// split into lines. A stream ends by itself when its container stops; untrack() lets it finish its last
// bytes (a crash's stderr is what a user most needs), close() ends every stream at once. Which instances
// are followed, and when a stream is open, is followed-logs.ts's bookkeeping; this file opens and reads one.

import { StringDecoder } from 'node:string_decoder';
import type Docker from 'dockerode';
import type { Logger } from '../../core/log.js';
import { containerName } from './docker-spec.js';
import { FollowedLogs, type FollowedInstance } from './followed-logs.js';

type Stream = 'stdout' | 'stderr';

/** A line without a newline this long is cut: a function printing megabytes in one line must not hold them. */
const MAX_LINE_CHARS = 16 * 1024;

/**
 * Docker multiplexes stdout/stderr of a non-tty container in frames: an 8-byte header (stream type,
 * 3 zero bytes, big-endian payload size) then the payload. Frames and UTF-8 sequences may be split
 * across chunks, so the state between chunks is kept here.
 */
export class LogDemuxer {
  #header: Buffer | null = null;
  #remaining = 0;
  #stream: Stream = 'stdout';
  readonly #decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  readonly #partial = { stdout: '', stderr: '' };

  constructor(private readonly onLine: (stream: Stream, text: string) => void) {}

  push(chunk: Buffer): void {
    if (this.#header) {
      chunk = Buffer.concat([this.#header, chunk]);
      this.#header = null;
    }
    let i = 0;
    while (i < chunk.length) {
      if (this.#remaining === 0) {
        if (chunk.length - i < 8) {
          this.#header = Buffer.from(chunk.subarray(i));
          return;
        }
        this.#stream = chunk[i] === 2 ? 'stderr' : 'stdout';
        this.#remaining = chunk.readUInt32BE(i + 4);
        i += 8;
        continue;
      }
      const n = Math.min(this.#remaining, chunk.length - i);
      this.#text(this.#stream, chunk.subarray(i, i + n));
      this.#remaining -= n;
      i += n;
    }
  }

  /** The stream ended: a last line without a newline (a crash message) still counts. */
  end(): void {
    for (const s of ['stdout', 'stderr'] as const) {
      const rest = this.#partial[s] + this.#decoders[s].end();
      this.#partial[s] = '';
      if (rest) this.onLine(s, rest);
    }
  }

  #text(stream: Stream, bytes: Buffer): void {
    let text = this.#partial[stream] + this.#decoders[stream].write(bytes);
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      this.onLine(stream, text.slice(start, nl));
      start = nl + 1;
    }
    if (start > 0) text = text.slice(start);
    if (text.length >= MAX_LINE_CHARS) {
      this.onLine(stream, text);
      text = '';
    }
    this.#partial[stream] = text;
  }
}

/** A whole (not followed) log buffer as one string: for the last lines of a failed start. */
export function demuxLogs(buf: Buffer): string {
  const parts: string[] = [];
  const demux = new LogDemuxer((_s, text) => parts.push(text));
  demux.push(buf);
  demux.end();
  return parts.join('\n');
}

/** Follows each instance's container through `docker logs --follow`, from unix seconds (fractional: the engine reads them to the nanosecond; 0 = from the start). */
export class DockerLogStreams extends FollowedLogs<number, NodeJS.ReadableStream> {
  constructor(
    private readonly docker: Docker,
    log: Logger,
  ) {
    super(log, 0);
  }

  protected sinceNow(): number {
    return Date.now() / 1000;
  }

  protected async openStream(f: FollowedInstance<number>, ended: () => void): Promise<NodeJS.ReadableStream | null> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.getContainer(containerName(f.instanceId)).logs({ follow: true, stdout: true, stderr: true, since: f.since });
    } catch (err) {
      // 404: the container is already gone, so there is nothing more to follow.
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw err;
    }
    let time = Date.now();
    const demux = new LogDemuxer((s, text) => this.emit({ instanceId: f.instanceId, function: f.function, version: f.version, stream: s, text, time }));
    stream.on('data', (chunk: Buffer) => {
      time = Date.now();
      demux.push(chunk);
    });
    let finished = false;
    const done = (err?: Error) => {
      if (finished) return;
      finished = true;
      if (err) this.log.debug('instance log stream failed', { instanceId: f.instanceId, error: err });
      demux.end();
      ended();
    };
    stream.on('end', () => done());
    stream.on('error', done);
    return stream;
  }

  protected openFailed(f: FollowedInstance<number>, err: unknown): void {
    this.log.warn('cannot follow instance logs', { instanceId: f.instanceId, error: err as Error });
  }

  /** Its listeners go first: an aborted stream reports nothing, not even its end. */
  protected abortStream(s: NodeJS.ReadableStream): void {
    s.removeAllListeners();
    s.on('error', () => {});
    (s as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  }
}
