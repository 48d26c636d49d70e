// Collects what function instances write into the store, per function and per invocation: subscribes to
// the backend's log source, turns each line into a LogRecord (the runtime's {"rid","level","msg"} lines
// carry their invocation's request id; anything else is the instance's own), and writes batches — one
// store write per function every flushMs or maxBatch lines, never one per line.

import { Closeable } from '../../core/lifecycle.js';
import { silentLogger, type Logger, type LogLevel } from '../../core/log.js';
import { LOG_LINES_KEPT, type Store } from '../../core/store/store.js';
import type { LogRecord } from '../../core/types.js';
import type { InstanceLogLine, InstanceLogSource } from '../../scheduler/backends/backend.js';

/** The longest wait between tries of a failed log write. */
const RETRY_MAX_MS = 5000;

export interface LogCollectorOptions {
  flushMs?: number;
  maxBatch?: number;
  /** Longer messages are cut: one runaway line must not fill the store. */
  maxMessageChars?: number;
  /** Batches being written at once; past it (a slow or unreachable store) new batches are dropped, and counted. */
  maxInFlight?: number;
  logger?: Logger;
}

const RUNTIME_LINE = '{"rid":';
const RUNTIME_NOTICE = 'stratus-runtime: ';
const RUNTIME_TROUBLE = /fail|cannot|error|unhandled|timeout/i;
const LEVELS: ReadonlySet<string> = new Set<LogLevel>(['debug', 'info', 'warn', 'error']);

/** A line as the runtime protocol defines it (runtime-images/README.md, "Logs"). */
export function parseLogLine(entry: InstanceLogLine): Pick<LogRecord, 'requestId' | 'level' | 'message'> {
  if (entry.text.startsWith(RUNTIME_LINE)) {
    try {
      const v = JSON.parse(entry.text) as { rid?: unknown; level?: unknown; msg?: unknown };
      if (typeof v.rid === 'string' && typeof v.msg === 'string') {
        const level = typeof v.level === 'string' && LEVELS.has(v.level) ? (v.level as LogLevel) : streamLevel(entry);
        return { requestId: v.rid, level, message: v.msg };
      }
    } catch {
      // a function printing something that merely looks like the runtime's line: kept as a plain line
    }
  }
  // The runtime's own notices go to stderr to stay out of the function's stdout; most are not errors
  // ("listening on …", "draining"), and the ones that are say so in their text ("init failed: …").
  if (entry.text.startsWith(RUNTIME_NOTICE)) {
    return { requestId: null, level: RUNTIME_TROUBLE.test(entry.text) ? 'error' : 'info', message: entry.text };
  }
  return { requestId: null, level: streamLevel(entry), message: entry.text };
}

// The same rule the Python runtime applies to unattributed output.
const streamLevel = (entry: InstanceLogLine): LogLevel => (entry.stream === 'stderr' ? 'error' : 'info');

export class LogCollector extends Closeable {
  readonly #pending = new Map<string, LogRecord[]>();
  readonly #writes = new Set<Promise<void>>();
  readonly #o: Required<Omit<LogCollectorOptions, 'logger'>>;
  readonly #log: Logger;
  readonly #unsubscribe: () => void;
  #timer: NodeJS.Timeout | null = null;
  #dropped = 0;
  /** After a failed write, the wait before the next try (doubling up to RETRY_MAX_MS); 0 while writes succeed. */
  #retryMs = 0;
  /** Dropping since the last successful write: an outage is warned about once, not per batch. */
  #dropping = false;

  constructor(
    source: InstanceLogSource,
    private readonly store: Pick<Store, 'appendLogs'>,
    opts: LogCollectorOptions = {},
  ) {
    super();
    this.#o = { flushMs: opts.flushMs ?? 250, maxBatch: opts.maxBatch ?? 100, maxMessageChars: opts.maxMessageChars ?? 8192, maxInFlight: opts.maxInFlight ?? 16 };
    this.#log = (opts.logger ?? silentLogger).child({ component: 'log-collector' });
    this.#unsubscribe = source.onLog((entry) => this.#add(entry));
  }

  /** Lines dropped because the store could not keep up or a write failed. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Writes everything pending and waits for every write under way. */
  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const fn of [...this.#pending.keys()]) this.#write(fn);
    await Promise.all([...this.#writes]);
  }

  protected override async doClose(): Promise<void> {
    this.#unsubscribe();
    await this.flush();
    if (this.#dropped > 0) this.#log.warn('function log lines were dropped', { dropped: this.#dropped });
  }

  #add(entry: InstanceLogLine): void {
    // An unspecialized stem's lines belong to no function; after close nothing is kept.
    if (entry.function === null || this.closed) return;
    const { requestId, level, message } = parseLogLine(entry);
    const max = this.#o.maxMessageChars;
    const record: LogRecord = {
      time: new Date(entry.time).toISOString(),
      function: entry.function,
      version: entry.version,
      instance: entry.instanceId,
      requestId,
      level,
      stream: entry.stream,
      message: message.length > max ? `${message.slice(0, max)}…` : message,
    };
    let batch = this.#pending.get(entry.function);
    if (!batch) this.#pending.set(entry.function, (batch = []));
    batch.push(record);
    if (batch.length >= this.#o.maxBatch) this.#write(entry.function);
    else if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        for (const fn of [...this.#pending.keys()]) this.#write(fn);
      }, this.#o.flushMs);
      this.#timer.unref();
    }
  }

  #write(fn: string): void {
    const batch = this.#pending.get(fn);
    this.#pending.delete(fn);
    if (!batch || batch.length === 0) return;
    if (this.#writes.size >= this.#o.maxInFlight) {
      this.#drop(batch.length, 'the store is not keeping up');
      return;
    }
    const write: Promise<void> = this.store.appendLogs(fn, batch).then(
      () => {
        this.#writes.delete(write);
        this.#dropping = false;
        this.#retryMs = 0;
      },
      (err: unknown) => {
        this.#writes.delete(write);
        this.#retry(fn, batch, err);
      },
    );
    this.#writes.add(write);
  }

  /**
   * A failed write (Redis restarting) is tried again, its lines ahead of newer ones, after a growing wait;
   * what waits is bounded per function (the store keeps no more anyway), so an outage costs the oldest lines
   * only. A write that failed after Redis applied it may store a batch twice: better than losing it.
   */
  #retry(fn: string, batch: LogRecord[], err: unknown): void {
    if (this.closed) return this.#drop(batch.length, 'a store write failed while stopping', err);
    const waiting = [...batch, ...(this.#pending.get(fn) ?? [])];
    const excess = waiting.length - LOG_LINES_KEPT;
    if (excess > 0) this.#drop(excess, 'a store write failed and too many lines are waiting', err);
    this.#pending.set(fn, excess > 0 ? waiting.slice(excess) : waiting);
    this.#retryMs = Math.min(RETRY_MAX_MS, Math.max(this.#o.flushMs, this.#retryMs * 2));
    if (!this.#dropping) this.#log.warn('a function log write failed; trying again', { function: fn, lines: batch.length, inMs: this.#retryMs, error: err as Error });
    this.#dropping = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      for (const f of [...this.#pending.keys()]) this.#write(f);
    }, this.#retryMs);
    this.#timer.unref();
  }

  #drop(lines: number, why: string, err?: unknown): void {
    if (!this.#dropping) this.#log.warn(`dropping function log lines: ${why}`, { lines, ...(err ? { error: err as Error } : {}) });
    this.#dropping = true;
    this.#dropped += lines;
  }
}
