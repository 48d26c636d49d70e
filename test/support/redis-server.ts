// A redis-server of a test's own, on a free loopback port, started and stopped when the test says: for
// start-up waiting for Redis and for a Redis that goes away under a running client.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { findOnPath } from '../../platform/boot/service-wait.js';
import { isCI } from './services.js';

/** Skip outside CI when redis-server is not installed; fail in CI (services.sh installs it). */
export async function redisServerMissing(): Promise<boolean> {
  const found = (await findOnPath('redis-server', process.env.PATH ?? '')) !== null;
  if (!found && isCI) throw new Error('redis-server is not installed (bash scripts/services.sh installs it) and CI=true');
  return !found;
}

/** A port nothing listens on right now (bound once by the kernel's choice, then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RedisServerOptions {
  /** Persist into this dir with an append-only file, so that a stop and start on it keeps the data. */
  dataDir?: string;
}

export class RedisServer {
  #child: ChildProcess | undefined;
  constructor(readonly port: number, private readonly opts: RedisServerOptions = {}) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts redis-server and resolves once it accepts connections. */
  async start(): Promise<void> {
    const persistence = this.opts.dataDir ? ['--dir', this.opts.dataDir, '--appendonly', 'yes'] : ['--appendonly', 'no'];
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: 'ignore' });
    this.#child = child;
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${this.port} exited with ${child.exitCode}`);
      if (await accepts(this.port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }

  /** SIGKILL by default (a Redis that vanishes); SIGTERM is a clean shutdown that writes its data first. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await gone;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
