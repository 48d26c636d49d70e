// The per-call lines of the native data plane: HAProxy writes one line per call (CALL_LINE_FORMAT in
// haproxy-config.ts) and this reader parses each into what the platform derives per call — records,
// metering, logs by request id, the autoscaler's input — whichever path served it.
//
// The transport is HAProxy's `ring` (a buffer in its memory) forwarded to a TCP `server` on loopback: this
// reader. The lines arrive newline-separated in a stream, many per read. It replaced syslog over UDP, one
// datagram per line, when the platform's bench showed the accounting on the same cores as the calls: a
// datagram cost this reader ~4 µs of CPU and HAProxy a sendto() per call, a line in the stream ~0.3 µs
// (measured side by side, 200,000 lines each). The ring also holds lines while the reader is busy or
// reconnecting instead of a kernel buffer dropping them. Not the unix datagram socket issue 20 names: Node's
// dgram has none, the npm addon that adds one is a native build, and net.unix.max_dgram_qlen is 10 here.
//
// A line can still be lost (the ring full, a connection cut mid-line): the reader counts what it received,
// and `dropped` compares it with HAProxy's own count of calls (the frontend's req_tot,
// HaproxyRuntime.requestsReceived), so a lost line is a number someone sees, never a silent gap.
//
// Any local process can connect to a loopback port, and a line is a call's record and its meter. So each
// line starts with a token only HAProxy's config and this reader know (NativeProxySettings.lineToken, random
// per start): a line without it is counted as forged and never passed on, and a connection that sends a line
// longer than any call line is cut.

import { timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import { checkLineToken } from './haproxy-config.js';

/** One call as HAProxy logged it. */
export interface CallLine {
  /** HAProxy's unique id, also sent to the instance as x-stratus-request-id. */
  requestId: string;
  /** The route's key (NAME or NAME@QUALIFIER) when a slot was chosen for it; null when not routed natively. */
  function: string | null;
  /** The backend that took the call: a slot, or the activator (then Stratus records the call itself). */
  backend: string;
  /** The server (instance) that answered; null when none was reached. */
  server: string | null;
  /** The status sent to the caller (HAProxy's own when it answered itself: 502, 503, 504). */
  status: number;
  /** Ms until the answer's headers came back from the instance; null without an answer (Tr = -1). */
  responseMs: number | null;
  /** Ms the whole call took in HAProxy (Ta). */
  durationMs: number;
  /** Bytes of the request (headers and body) and of the answer. */
  bytesIn: number;
  bytesOut: number;
  /** HAProxy's termination state: "----" for a clean end; otherwise who ended it and when (its docs, 8.5). */
  termination: string;
}

const INT = /^-?\d+$/;

/**
 * A line's call fields as CALL_LINE_FORMAT writes them (the line without its token: see readCallLine), or null
 * when they are not (counted as malformed by the reader).
 */
export function parseCallLine(text: string): CallLine | null {
  const f = text.trim().split(' ');
  if (f.length !== 10) return null;
  const [requestId, fn, backend, server, status, tr, ta, up, down, termination] = f as [string, string, string, string, string, string, string, string, string, string];
  if (![status, tr, ta, up, down].every((n) => INT.test(n)) || requestId === '-' || termination.length !== 4) return null;
  return {
    requestId,
    function: fn === '-' ? null : fn,
    backend,
    server: server === '-' || server === '<NOSRV>' ? null : server,
    status: Number(status),
    responseMs: Number(tr) < 0 ? null : Number(tr),
    durationMs: Number(ta),
    bytesIn: Number(up),
    bytesOut: Number(down),
    termination,
  };
}

/**
 * A line as HAProxy writes it (callLineFormat: the token, a space, the call's fields): the call, 'forged'
 * when its first field is not the token, 'malformed' when it carries the token but no call line. The token
 * is compared in constant time, so its bytes cannot be guessed one by one from the reader's timing.
 */
export function readCallLine(datagram: Buffer | string, token: Buffer | string): CallLine | 'forged' | 'malformed' {
  const text = typeof datagram === 'string' ? Buffer.from(datagram, 'utf8') : datagram;
  if (typeof token === 'string') token = Buffer.from(token, 'utf8');
  const space = text.indexOf(0x20);
  const field = space === -1 ? text : text.subarray(0, space);
  if (field.length !== token.length || !timingSafeEqual(field, token)) return 'forged';
  return parseCallLine(text.subarray(space + 1).toString('utf8')) ?? 'malformed';
}

export interface CallLineReaderOptions {
  /** The line token of the config HAProxy runs (NativeProxySettings.lineToken). */
  token: string;
  /** Where to listen: loopback only (the ring's `server`). Port 0: any free one, read back from `port`. */
  host?: '127.0.0.1' | '::1';
  port?: number;
  onLine: (line: CallLine) => void;
}

/** Longer than any call line (HAProxy's `maxlen` for the ring is 1024): a peer sending more is not HAProxy. */
const MAX_LINE_BYTES = 2048;
const NEWLINE = 0x0a;

export class CallLineReader {
  /** Lines received and parsed. */
  received = 0;
  /** Lines with the token that were not a call line (counted, not passed on). */
  malformed = 0;
  /** Lines without the token: not HAProxy's (counted, not passed on). */
  forged = 0;
  #closed: Promise<void> | null = null;
  readonly #sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {}

  /** The loopback port the reader listens on (the ring's `server`). */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  static async open(o: CallLineReaderOptions): Promise<CallLineReader> {
    const token = Buffer.from(checkLineToken(o.token), 'utf8');
    const host = o.host ?? '127.0.0.1';
    const server = net.createServer();
    const reader = new CallLineReader(server);
    const take = (line: Buffer) => {
      const parsed = readCallLine(line, token);
      if (parsed === 'forged') reader.forged++;
      else if (parsed === 'malformed') reader.malformed++;
      else {
        reader.received++;
        o.onLine(parsed);
      }
    };
    server.on('connection', (socket: net.Socket) => {
      reader.#sockets.add(socket);
      let rest: Buffer | null = null;
      socket.on('data', (chunk: Buffer) => {
        let data = rest === null ? chunk : Buffer.concat([rest, chunk]);
        let from = 0;
        for (let nl = data.indexOf(NEWLINE, from); nl !== -1; nl = data.indexOf(NEWLINE, from)) {
          if (nl > from) take(data.subarray(from, nl));
          from = nl + 1;
        }
        data = data.subarray(from);
        if (data.length > MAX_LINE_BYTES) {
          reader.forged++;
          socket.destroy();
          return;
        }
        rest = data.length > 0 ? data : null;
      });
      socket.on('error', () => {}); // a peer gone: its lines so far were taken; HAProxy reconnects
      socket.on('close', () => reader.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return reader;
  }

  /** Lines lost: HAProxy's count of calls since the reader opened minus the lines that arrived (never < 0). */
  dropped(callsSinceOpen: number): number {
    return Math.max(0, callsSinceOpen - this.received);
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
    });
    return this.#closed;
  }
}
