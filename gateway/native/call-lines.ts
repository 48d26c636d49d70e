// The per-call lines of the native data plane: HAProxy sends one line per call (CALL_LINE_FORMAT in
// haproxy-config.ts) and this reader parses each into what the platform derives per call — records,
// metering, logs by request id, the autoscaler's input — whichever path served it.
//
// The transport is syslog over UDP on loopback, read with node:dgram. Why not the unix dgram socket issue 20
// names: Node's dgram has no unix datagrams, the npm package that adds them (unix-dgram) is a native addon
// (nan, built with node-gyp at install), and this machine's net.unix.max_dgram_qlen is 10 datagrams, a
// sysctl Stratus should not have to set. A UDP socket's queue is its receive buffer, raised here per socket
// (4 MiB asked; Linux caps it at net.core.rmem_max, so the effective size is read back and reported). HAProxy's
// `ring` with a TCP `server` was evaluated too (docs/architecture.md, the native data plane): it delivers the
// same lines newline-separated over loopback TCP without kernel drops, but what a reader that reconnects gets
// again from the ring was not settled; UDP is the simpler reader and lost 0 lines at c=32 here.
//
// A datagram can still be dropped (a full buffer): the reader counts what it received, and `dropped` compares
// it with HAProxy's own count of calls (the frontend's req_tot, HaproxyRuntime.requestsReceived), so a lost
// line is a number someone sees, never a silent gap.
//
// UDP on loopback takes a datagram from any local process, and a line is a call's record and its meter. So
// each line starts with a token only HAProxy's config and this reader know (NativeProxySettings.lineToken,
// random per start): a datagram without it is counted as forged and never passed on.

import { timingSafeEqual } from 'node:crypto';
import dgram from 'node:dgram';
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
 * A datagram as HAProxy sends it (callLineFormat: the token, a space, the call's fields): the call, 'forged'
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
  /** Where to listen: loopback only (HAProxy's `log` target). Port 0: any free one, read back from `port`. */
  host?: '127.0.0.1' | '::1';
  port?: number;
  /** The socket's receive buffer asked for, bytes: its queue of lines while the reader is busy. */
  receiveBufferBytes?: number;
  onLine: (line: CallLine) => void;
}

export class CallLineReader {
  /** Lines received and parsed. */
  received = 0;
  /** Datagrams with the token that were not a call line (counted, not passed on). */
  malformed = 0;
  /** Datagrams without the token: not HAProxy's (counted, not passed on). */
  forged = 0;
  #closed: Promise<void> | null = null;

  private constructor(private readonly socket: dgram.Socket, readonly port: number, readonly receiveBufferBytes: number) {}

  static async open(o: CallLineReaderOptions): Promise<CallLineReader> {
    const token = Buffer.from(checkLineToken(o.token), 'utf8');
    const host = o.host ?? '127.0.0.1';
    const socket = dgram.createSocket({ type: host === '::1' ? 'udp6' : 'udp4', recvBufferSize: o.receiveBufferBytes ?? 4 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(o.port ?? 0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // Linux reports twice the size it was given (its bookkeeping), capped by net.core.rmem_max.
    const reader = new CallLineReader(socket, socket.address().port, socket.getRecvBufferSize() / 2);
    socket.on('message', (msg) => {
      const line = readCallLine(msg, token);
      if (line === 'forged') {
        reader.forged++;
        return;
      }
      if (line === 'malformed') {
        reader.malformed++;
        return;
      }
      reader.received++;
      o.onLine(line);
    });
    // A UDP socket bound on loopback has no peer to fail; an error here is the socket's end, not a call's.
    socket.on('error', () => void reader.close());
    return reader;
  }

  /** Lines lost: HAProxy's count of calls since the reader opened minus the lines that arrived (never < 0). */
  dropped(callsSinceOpen: number): number {
    return Math.max(0, callsSinceOpen - this.received);
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
    return this.#closed;
  }
}
