// A real HAProxy (the haproxy binary, a child process) with the native data plane's config in a temp dir,
// its per-call lines read by the real CallLineReader, in front of tiny HTTP servers on unix sockets that
// stand for instances and for Stratus (the activator). Nothing here decides a route: HAProxy does.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { CallLineReader, type CallLine } from '../../gateway/native/call-lines.js';
import { nativeProxyFiles, renderHaproxyConfig } from '../../gateway/native/haproxy-config.js';
import { findHaproxy } from '../../gateway/native/haproxy-process.js';
import { HaproxyRuntime } from '../../gateway/native/haproxy-runtime.js';
import { freePort } from './redis-server.js';
import { isCI } from './services.js';
import { until } from './until.js';

/** The haproxy binary (PATH, /usr/sbin, /usr/local/sbin); haproxyMissing() says whether there is one. */
export const haproxyBinary = (): string => findHaproxy(process.env.PATH) ?? 'haproxy';

/** True when the suite must skip (no haproxy, outside CI); throws in CI, which installs it (scripts/lb.sh install). */
export async function haproxyMissing(): Promise<boolean> {
  if (findHaproxy(process.env.PATH) !== null) return false;
  if (isCI) throw new Error('haproxy is not installed (bash scripts/lb.sh install installs it) and CI=true');
  console.warn('skipping: haproxy is not installed (bash scripts/lb.sh install)');
  return true;
}

/**
 * A tiny HTTP server on a unix socket: answers who it is, the path, request id and headers it got; can hold
 * calls, and answer as a test tells it (`answer`: its own headers, a delay, or raw bytes on the socket).
 */
export class SocketServer {
  readonly server: http.Server;
  /** Calls being answered now, and the most at once. */
  active = 0;
  peak = 0;
  calls = 0;
  /** How the next calls are answered (the default: 200 and the JSON above). */
  answer: { headers?: Record<string, string>; delayMs?: number; raw?: string } = {};
  #gate: Promise<void> | null = null;

  constructor(readonly name: string, readonly socketPath: string) {
    this.server = http.createServer((req, res) => {
      this.calls++;
      this.peak = Math.max(this.peak, ++this.active);
      const how = this.answer;
      const answer = () => {
        this.active--;
        if (how.raw !== undefined) {
          // Bytes that are not an HTTP answer, on the connection itself.
          res.socket?.end(how.raw);
          return;
        }
        res.setHeader('content-type', 'application/json');
        for (const [k, v] of Object.entries(how.headers ?? {})) res.setHeader(k, v);
        res.end(JSON.stringify({ who: this.name, path: req.url, requestId: req.headers['x-stratus-request-id'] ?? null, headers: req.headers }));
      };
      const delayed = () => (how.delayMs ? setTimeout(answer, how.delayMs) : answer());
      req.resume();
      req.on('end', () => void (this.#gate ?? Promise.resolve()).then(delayed));
    });
  }

  listen(): Promise<this> {
    return new Promise((resolve) => this.server.listen(this.socketPath, () => resolve(this)));
  }

  /** Calls wait until the returned function is called. */
  hold(): () => void {
    let open!: () => void;
    this.#gate = new Promise<void>((r) => (open = r));
    return () => {
      this.#gate = null;
      open();
    };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** The native proxy's files written, its line reader and activator up; HAProxy not started yet. */
export interface NativeProxySetup {
  dir: string;
  files: ReturnType<typeof nativeProxyFiles>;
  port: number;
  routes: string;
  /** Slot → the function's timeout, ms (the map HAProxy reads its per-call timeout from). */
  timeouts: string;
  /** The call lines' token in this config. */
  lineToken: string;
  reader: CallLineReader;
  lines: CallLine[];
  activator: SocketServer;
  /** A new instance server in the proxy's dir (not yet added to a slot). */
  instance(name: string): Promise<SocketServer>;
  /** Closes the reader and the servers and removes the dir. */
  cleanup(): Promise<void>;
}

export interface NativeProxy extends NativeProxySetup {
  runtime: HaproxyRuntime;
  haproxy: ChildProcess;
  close(): Promise<void>;
}

export async function prepareNativeProxy(o: { slots: number; functionsDomain?: string }): Promise<NativeProxySetup> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-native-'));
  const files = nativeProxyFiles(dir);
  const servers: SocketServer[] = [];
  const lines: CallLine[] = [];
  const lineToken = randomBytes(16).toString('hex');
  const reader = await CallLineReader.open({ token: lineToken, onLine: (l) => lines.push(l) });
  const activator = await new SocketServer('activator', path.join(dir, 'activator.sock')).listen();
  servers.push(activator);
  const port = await freePort();
  fs.writeFileSync(files.routes, '');
  fs.writeFileSync(files.timeouts, '');
  fs.writeFileSync(files.config, renderHaproxyConfig({
    dir, slots: o.slots, functionsDomain: o.functionsDomain ?? 'fn.localhost', callTimeoutMs: 30_000, lineToken,
    listen: { host: '127.0.0.1', port }, activator: { socketPath: activator.socketPath }, callLines: { host: '127.0.0.1', port: reader.port },
  }), { mode: 0o600 });
  return {
    dir, files, port, routes: files.routes, timeouts: files.timeouts, lineToken, reader, lines, activator,
    instance: async (name) => {
      const s = await new SocketServer(name, path.join(dir, `${name}.sock`)).listen();
      servers.push(s);
      return s;
    },
    cleanup: async () => {
      await reader.close();
      for (const s of servers) await s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startNativeProxy(o: { slots: number; functionsDomain?: string }): Promise<NativeProxy> {
  const setup = await prepareNativeProxy(o);
  // -db: stays in the foreground, a child this process ends; its own messages go to the test's output.
  const haproxy = spawn(haproxyBinary(), ['-db', '-f', setup.files.config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => haproxy.once('exit', () => resolve()));
  const runtime = new HaproxyRuntime(setup.files.runtimeSocket);
  const close = async () => {
    haproxy.kill('SIGTERM');
    await exited;
    await setup.cleanup();
  };
  try {
    await until('HAProxy answering on its runtime socket', () => runtime.command('show info').then(() => true, () => undefined), 10_000);
  } catch (err) {
    await close();
    throw err;
  }
  return { ...setup, runtime, haproxy, close };
}

export interface Answer {
  status: number;
  /** The instance's JSON (who answered, the path, request id and headers it got), or HAProxy's problem. */
  body: { who: string; path: string; requestId: string | null; headers?: http.IncomingHttpHeaders } & Record<string, unknown>;
  requestId: string | undefined;
  headers: http.IncomingHttpHeaders;
}

/** One GET through the proxy, a fresh connection (no agent), with the Host and any other headers given. */
export function call(port: number, urlPath: string, host = '127.0.0.1', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, headers: { ...headers, host } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let body: Answer['body'];
        try {
          body = JSON.parse(text) as Answer['body'];
        } catch {
          body = { who: `(not JSON: ${text.slice(0, 80)})`, path: '', requestId: null };
        }
        resolve({ status: res.statusCode ?? 0, body, requestId: res.headers['x-stratus-request-id'] as string | undefined, headers: res.headers });
      });
    });
    req.on('error', reject);
  });
}
