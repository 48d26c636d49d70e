// What Docker instances write, followed as lines: one `docker logs --follow` stream per running instance,
// opened only while someone listens (a platform that collects no logs pays nothing), demultiplexed and
// split into lines. A stream ends by itself when its container stops; untrack() lets it finish its last
// bytes (a crash's stderr is what a user most needs), close() ends every stream at once.

import { StringDecoder } from 'node:string_decoder';
import type Docker from 'dockerode';
import type { Logger } from '../../core/log.js';
import type { InstanceLogLine } from './backend.js';
import { containerName } from './docker-spec.js';

type Stream = 'stdout' | 'stderr';
type Listener = (entry: InstanceLogLine) => void;

/** A line without a newline this long is cut: a function printing megabytes in one line must not hold them. */
const MAX_LINE_CHARS = 16 * 1024;
/** How long an untracked instance's stream may still deliver its last lines. */
const LINGER_MS = 1000;

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

interface Followed {
  instanceId: string;
  function: string | null;
  version: number | null;
  /** Unix seconds (fractional: the engine reads them to the nanosecond) to follow from; 0 = from the start. */
  since: number;
  stream: NodeJS.ReadableStream | null;
  opening: boolean;
  /** The container's stream ended (it stopped): never reopened, it would replay everything. */
  ended: boolean;
  linger: NodeJS.Timeout | null;
}

export class DockerLogStreams {
  readonly #followed = new Map<string, Followed>();
  readonly #listeners = new Set<Listener>();
  #closed = false;

  constructor(
    private readonly docker: Docker,
    private readonly log: Logger,
  ) {}

  /** An instance to follow: one Stratus started (from its start), or one found running (`since` = now, in unix seconds). */
  track(instanceId: string, fn: string | null, version: number | null, since = 0): void {
    if (this.#closed) return;
    const known = this.#followed.get(instanceId);
    if (known) {
      if (fn !== null) this.specialize(instanceId, fn, version);
      return;
    }
    const f: Followed = { instanceId, function: fn, version, since, stream: null, opening: false, ended: false, linger: null };
    this.#followed.set(instanceId, f);
    if (this.#listeners.size > 0) void this.#open(f);
  }

  /** A stem now serves a function: its next lines are that function's. */
  specialize(instanceId: string, fn: string, version: number | null): void {
    const f = this.#followed.get(instanceId);
    if (!f) return;
    f.function = fn;
    f.version = version;
  }

  /** The instance is being removed: its stream may deliver its last lines, briefly. */
  untrack(instanceId: string): void {
    const f = this.#followed.get(instanceId);
    if (!f || f.linger) return;
    if (!f.stream) {
      this.#drop(f);
      return;
    }
    f.linger = setTimeout(() => this.#drop(f), LINGER_MS);
    f.linger.unref();
  }

  subscribe(listener: Listener): () => void {
    if (this.#closed) return () => {};
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) for (const f of this.#followed.values()) if (!f.linger) void this.#open(f);
    return () => {
      if (!this.#listeners.delete(listener) || this.#listeners.size > 0) return;
      // Nobody listens any more: end the streams; a later subscriber follows from then on.
      const now = Date.now() / 1000;
      for (const f of this.#followed.values()) {
        this.#destroyStream(f);
        f.since = now;
      }
    };
  }

  /** Number of open streams (tests check that nothing is left). */
  get openStreams(): number {
    let n = 0;
    for (const f of this.#followed.values()) if (f.stream) n++;
    return n;
  }

  close(): void {
    this.#closed = true;
    for (const f of this.#followed.values()) {
      if (f.linger) clearTimeout(f.linger);
      this.#destroyStream(f);
    }
    this.#followed.clear();
    this.#listeners.clear();
  }

  async #open(f: Followed): Promise<void> {
    if (f.stream || f.opening || f.ended) return;
    f.opening = true;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.getContainer(containerName(f.instanceId)).logs({ follow: true, stdout: true, stderr: true, since: f.since });
    } catch (err) {
      // 404: the container is already gone, so there is nothing more to follow.
      if ((err as { statusCode?: number }).statusCode === 404) f.ended = true;
      else this.log.warn('cannot follow instance logs', { instanceId: f.instanceId, error: err as Error });
      return;
    } finally {
      f.opening = false;
    }
    if (this.#closed || this.#listeners.size === 0 || this.#followed.get(f.instanceId) !== f) {
      destroy(stream);
      return;
    }
    f.stream = stream;
    let time = Date.now();
    const demux = new LogDemuxer((s, text) => this.#emit({ instanceId: f.instanceId, function: f.function, version: f.version, stream: s, text, time }));
    stream.on('data', (chunk: Buffer) => {
      time = Date.now();
      demux.push(chunk);
    });
    const done = (err?: Error) => {
      if (f.stream !== stream) return;
      if (err) this.log.debug('instance log stream failed', { instanceId: f.instanceId, error: err });
      demux.end();
      f.stream = null;
      f.ended = true;
      if (f.linger) this.#drop(f);
    };
    stream.on('end', () => done());
    stream.on('error', done);
  }

  #emit(entry: InstanceLogLine): void {
    for (const l of this.#listeners) {
      try {
        l(entry);
      } catch (err) {
        this.log.error('log listener threw', { error: err as Error });
      }
    }
  }

  #destroyStream(f: Followed): void {
    const s = f.stream;
    f.stream = null;
    if (s) destroy(s);
  }

  #drop(f: Followed): void {
    if (f.linger) clearTimeout(f.linger);
    f.linger = null;
    this.#destroyStream(f);
    if (this.#followed.get(f.instanceId) === f) this.#followed.delete(f.instanceId);
  }
}

function destroy(s: NodeJS.ReadableStream): void {
  s.removeAllListeners();
  s.on('error', () => {});
  (s as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
}
