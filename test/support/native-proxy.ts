// A real HAProxy (the haproxy binary, a child process) with the native data plane's config in a temp dir,
// its per-call lines read by the real CallLineReader, in front of tiny HTTP servers on unix sockets that
// stand for instances and for Stratus (the activator). Nothing here decides a route: HAProxy does.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CallLineReader, type CallLine } from '../../gateway/native/call-lines.js';
import { nativeProxyFiles, renderHaproxyConfig } from '../../gateway/native/haproxy-config.js';
import { HaproxyRuntime } from '../../gateway/native/haproxy-runtime.js';
import { freePort } from './redis-server.js';
import { isCI } from './services.js';
import { until } from './until.js';

const run = promisify(execFile);

/** True when the suite must skip (no haproxy, outside CI); throws in CI, which installs it (scripts/lb.sh install). */
export async function haproxyMissing(): Promise<boolean> {
  const found = await run('bash', ['-c', 'command -v haproxy']).then(() => true, () => false);
  if (found) return false;
  if (isCI) throw new Error('haproxy is not installed (bash scripts/lb.sh install installs it) and CI=true');
  console.warn('skipping: haproxy is not installed (bash scripts/lb.sh install)');
  return true;
}

/** A tiny HTTP server on a unix socket: answers who it is, the path and request id it got; can hold calls. */
export class SocketServer {
  readonly server: http.Server;
  /** Calls being answered now, and the most at once. */
  active = 0;
  peak = 0;
  calls = 0;
  #gate: Promise<void> | null = null;

  constructor(readonly name: string, readonly socketPath: string) {
    this.server = http.createServer((req, res) => {
      this.calls++;
      this.peak = Math.max(this.peak, ++this.active);
      const answer = () => {
        this.active--;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ who: this.name, path: req.url, requestId: req.headers['x-stratus-request-id'] ?? null }));
      };
      req.resume();
      req.on('end', () => void (this.#gate ?? Promise.resolve()).then(answer));
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

export interface NativeProxy {
  dir: string;
  port: number;
  routes: string;
  runtime: HaproxyRuntime;
  reader: CallLineReader;
  lines: CallLine[];
  activator: SocketServer;
  haproxy: ChildProcess;
  /** A new instance server in the proxy's dir (not yet added to a slot). */
  instance(name: string): Promise<SocketServer>;
  close(): Promise<void>;
}

export async function startNativeProxy(o: { slots: number; functionsDomain?: string }): Promise<NativeProxy> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-native-'));
  const files = nativeProxyFiles(dir);
  const servers: SocketServer[] = [];
  const lines: CallLine[] = [];
  const reader = await CallLineReader.open({ onLine: (l) => lines.push(l) });
  const activator = await new SocketServer('activator', path.join(dir, 'activator.sock')).listen();
  servers.push(activator);
  const port = await freePort();
  fs.writeFileSync(files.routes, '');
  fs.writeFileSync(files.config, renderHaproxyConfig({
    dir, slots: o.slots, functionsDomain: o.functionsDomain ?? 'fn.localhost', callTimeoutMs: 30_000,
    listen: { host: '127.0.0.1', port }, activator: { socketPath: activator.socketPath }, callLines: { host: '127.0.0.1', port: reader.port },
  }));
  // -db: stays in the foreground, a child this process ends; its own messages go to the test's output.
  const haproxy = spawn('haproxy', ['-db', '-f', files.config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => haproxy.once('exit', () => resolve()));
  const runtime = new HaproxyRuntime(files.runtimeSocket);
  const close = async () => {
    haproxy.kill('SIGTERM');
    await exited;
    await reader.close();
    for (const s of servers) await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until('HAProxy answering on its runtime socket', () => runtime.command('show info').then(() => true, () => undefined), 10_000);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    dir, port, routes: files.routes, runtime, reader, lines, activator, haproxy, close,
    instance: async (name) => {
      const s = await new SocketServer(name, path.join(dir, `${name}.sock`)).listen();
      servers.push(s);
      return s;
    },
  };
}

export interface Answer {
  status: number;
  body: { who: string; path: string; requestId: string | null };
  requestId: string | undefined;
}

/** One GET through the proxy, a fresh connection (no agent), with the Host given. */
export function call(port: number, urlPath: string, host = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, headers: { host } }, (res) => {
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
        resolve({ status: res.statusCode ?? 0, body, requestId: res.headers['x-stratus-request-id'] as string | undefined });
      });
    });
    req.on('error', reject);
  });
}
