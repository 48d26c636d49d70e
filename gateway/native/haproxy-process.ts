// HAProxy as Stratus's supervised child (issue 20): the config is checked (`haproxy -c`), HAProxy runs in
// the foreground (`-db`: no daemon, no master process; its pid is the one that serves), and it counts as
// started once its runtime socket answers `show info` with that pid — a leftover HAProxy still answering on
// the same socket path is not mistaken for it. It writes no file: the config (haproxy-config.ts) is written
// by the caller.
//
// If it exits unexpectedly it is started again after a backoff (0.5 s doubling to 10 s; back to 0.5 s once a
// run lasted 30 s), and onRestart() is called once the new process answers: HAProxy loses its run-time
// state (servers added, map entries set) with its process, so Stratus replays them then.
//
// stop() is HAProxy's soft stop: SIGUSR1 closes the listeners and lets calls under way finish; after graceMs
// SIGTERM, then SIGKILL. No restart after stop().

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HaproxyRuntime } from './haproxy-runtime.js';

/** What the supervisor logs with (core/log.ts's Logger fits). */
export interface ProcessLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** `haproxy -c` refused the config: `output` is HAProxy's own text, `line` the first line it named. */
export class HaproxyConfigError extends Error {
  constructor(readonly configPath: string, readonly output: string, readonly line: number | null) {
    super(`HAProxy refused its config ${configPath}${line === null ? '' : ` at line ${line}`}: ${alerts(output)}`);
    this.name = 'HaproxyConfigError';
  }
}

/** HAProxy did not come up: it exited, or its runtime socket did not answer in time. `output`: its last lines. */
export class HaproxyStartError extends Error {
  constructor(readonly reason: string, readonly output: string) {
    super(`HAProxy did not start: ${reason}${output ? `; its last output:\n${output}` : ''}`);
    this.name = 'HaproxyStartError';
  }
}

/** HAProxy's ALERT lines (why it refused), or its whole output when it has none. */
function alerts(output: string): string {
  const found = output.split('\n').filter((l) => l.includes('[ALERT]'));
  return (found.length > 0 ? found.join('\n') : output).trim();
}

/**
 * The haproxy binary: the first executable `haproxy` on PATH, then in /usr/sbin and /usr/local/sbin (Debian
 * installs it in /usr/sbin, which a non-root PATH often lacks). null when there is none.
 */
export function findHaproxy(pathEnv: string | undefined): string | null {
  const dirs = [...(pathEnv ?? '').split(path.delimiter).filter((d) => d !== ''), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    const candidate = path.join(dir, 'haproxy');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Checks a config with the binary (`haproxy -c -f`); throws HaproxyConfigError with HAProxy's words. */
export function checkHaproxyConfig(binary: string, configPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['-c', '-f', configPath], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (!err) return resolve();
      const output = `${stdout}${stderr}`;
      // "parsing [/run/stratus/haproxy.cfg:14] : …": the first line HAProxy names in this file.
      const at = new RegExp(`\\[${escapeRegExp(configPath)}:(\\d+)\\]`).exec(output);
      reject(new HaproxyConfigError(configPath, output || err.message, at ? Number(at[1]) : null));
    });
  });
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface HaproxyProcessOptions {
  /** The binary (findHaproxy()). */
  binary: string;
  /** The config, already written. */
  configPath: string;
  /** The runtime socket the config declares (nativeProxyFiles(dir).runtimeSocket). */
  runtimeSocket: string;
  logger: ProcessLogger;
  /** Called once a restarted HAProxy answers on its runtime socket: replay routes and servers here. */
  onRestart?: () => void | Promise<void>;
  /** How long a start may take until the runtime socket answers (default 10 s). */
  startTimeoutMs?: number;
  /** The restart backoff: first delay, most, and how long a run must last to start over at the first (ms). */
  backoff?: { initialMs: number; maxMs: number; resetAfterMs: number };
  /** After stop()'s SIGTERM, how long until SIGKILL (default 2 s). */
  killAfterMs?: number;
}

const OUTPUT_LINES = 50;

/** One `haproxy -db` process at a time, restarted when it dies until stop(). */
export class HaproxyProcess {
  /** Restarts so far (each one an unexpected exit). */
  restarts = 0;
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  #startedAt = 0;
  #failures = 0;
  #stopping = false;
  /** Set once start() succeeded: only then is an exit a crash to restart from. */
  #supervising = false;
  #restartTimer: NodeJS.Timeout | null = null;
  #output: string[] = [];
  readonly #runtime: HaproxyRuntime;
  readonly #backoff: { initialMs: number; maxMs: number; resetAfterMs: number };

  constructor(private readonly o: HaproxyProcessOptions) {
    this.#runtime = new HaproxyRuntime(o.runtimeSocket, 1000);
    this.#backoff = o.backoff ?? { initialMs: 500, maxMs: 10_000, resetAfterMs: 30_000 };
  }

  /** The running process's pid (undefined between a crash and its restart, and after stop()). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** HAProxy's last lines of output (stdout and stderr), for a report. */
  get output(): string {
    return this.#output.join('\n');
  }

  /** Checks the config, starts HAProxy and resolves once its runtime socket answers. */
  async start(): Promise<void> {
    if (this.#child || this.#stopping) throw new Error('HaproxyProcess.start(): already started (or stopped)');
    await checkHaproxyConfig(this.o.binary, this.o.configPath);
    await this.#launch();
    this.#supervising = true;
  }

  /** Soft stop: SIGUSR1, SIGTERM after graceMs, then SIGKILL; resolves once it exited. No restart after. */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
    const child = this.#child;
    if (!child) return;
    const timers: NodeJS.Timeout[] = [];
    const exited = this.#exited;
    child.kill('SIGUSR1');
    timers.push(setTimeout(() => {
      this.o.logger.warn('HAProxy did not finish its calls in time: SIGTERM', { pid: child.pid, graceMs });
      child.kill('SIGTERM');
      timers.push(setTimeout(() => child.kill('SIGKILL'), this.o.killAfterMs ?? 2000));
    }, graceMs));
    try {
      await exited;
    } finally {
      for (const t of timers) clearTimeout(t);
    }
  }

  /** Spawns HAProxy and waits for its runtime socket; on failure the process is gone and the error typed. */
  async #launch(): Promise<void> {
    this.#output = [];
    const child = spawn(this.o.binary, ['-db', '-f', this.o.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#startedAt = Date.now();
    const state: { exitedEarly: string | null } = { exitedEarly: null };
    let ended = false;
    this.#exited = new Promise<void>((resolve) => {
      const end = (why: string, code: number | null, signal: NodeJS.Signals | null) => {
        if (ended) return;
        ended = true;
        state.exitedEarly = why;
        if (this.#child === child) this.#child = null;
        resolve();
        this.#onExit(child, code, signal);
      };
      child.once('exit', (code, signal) => end(signal ? `it was ended by ${signal}` : `it exited with code ${code}`, code, signal));
      // A binary that cannot be run gets 'error' and no 'exit'; one that ran may get both.
      child.once('error', (err) => {
        this.#keep(`spawn: ${err.message}`);
        if (child.pid === undefined) end(`it could not be run: ${err.message}`, null, null);
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      let rest = '';
      stream?.on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop() ?? '';
        for (const l of parts) this.#keep(l);
      });
    }

    const deadline = Date.now() + (this.o.startTimeoutMs ?? 10_000);
    for (;;) {
      if (state.exitedEarly !== null) throw new HaproxyStartError(state.exitedEarly, this.output);
      if (this.#stopping) throw new HaproxyStartError('stop() was called while it started', this.output);
      const pid = await this.#runtime.showInfo().then((info) => info.get('Pid'), () => undefined);
      if (pid === String(child.pid) && state.exitedEarly === null) return;
      if (Date.now() > deadline) {
        // Not ours to keep: a process that does not answer would hold the listeners.
        child.kill('SIGKILL');
        await this.#exited;
        throw new HaproxyStartError(`its runtime socket ${this.o.runtimeSocket} did not answer within ${this.o.startTimeoutMs ?? 10_000} ms`, this.output);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  #keep(line: string): void {
    if (line === '') return;
    this.#output.push(line);
    if (this.#output.length > OUTPUT_LINES) this.#output.shift();
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#stopping) {
      this.o.logger.info('HAProxy stopped', { pid: child.pid, code, signal });
      return;
    }
    if (!this.#supervising) return; // start() failed: its caller has the error
    const ranMs = Date.now() - this.#startedAt;
    if (ranMs >= this.#backoff.resetAfterMs) this.#failures = 0;
    const delayMs = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** this.#failures);
    this.#failures++;
    this.o.logger.warn('HAProxy exited unexpectedly: restarting it', { pid: child.pid, code, signal, ranMs, delayMs, output: this.output });
    this.#scheduleRestart(delayMs);
  }

  #scheduleRestart(delayMs: number): void {
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (this.#stopping) return;
      this.restarts++;
      this.#launch().then(async () => {
        this.o.logger.info('HAProxy restarted', { pid: this.pid, restarts: this.restarts });
        try {
          await this.o.onRestart?.();
        } catch (err) {
          this.o.logger.error('replaying HAProxy\'s run-time state after its restart failed', { err });
        }
      }, (err: unknown) => {
        // The exit handler schedules the next attempt (a process that exited, or one killed for not answering).
        if (!this.#stopping) this.o.logger.error('HAProxy did not come back', { err });
      });
    }, delayMs);
  }
}
