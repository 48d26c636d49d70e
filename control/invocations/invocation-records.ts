// The invocation-record seam: every data plane (the Node proxy today, the async worker, a native proxy
// later) emits one InvocationRecord per call through record(), synchronously and without I/O; the
// BatchedRecordWriter turns them into one store write every flushMs or maxBatch records, so recording a
// warm call costs no Redis round trip of its own. A write that fails (Redis restarting) is not lost: its
// batch goes back in front of the pending records and is written again, with backoff, once the store
// answers — writing a record again is harmless, each is stored under its id, and the store meters each
// record once (core/store/usage.ts). A stored batch is counted on the billed-usage metrics.

import { Closeable } from '../../core/lifecycle.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { DEFAULT_RETENTION, type InvocationRecord, type InvocationRetention } from '../../core/store/invocations.js';
import type { Store } from '../../core/store/store.js';
import { meter } from '../../core/store/usage.js';

export interface InvocationRecordSink {
  /** Takes a finished call's record; never throws, never waits. */
  record(r: InvocationRecord): void;
  /** Writes what is pending, trying again while the store fails; for a caller that must know its record is stored (an async job, before it is marked done). */
  flush?(): Promise<void>;
}

/**
 * The writer's sink, with observers that see every record too (the error-rate watch, the dashboard's
 * hour): each in memory, without I/O, called after the writer took the record. Nulls are skipped.
 */
export function teeRecords(writer: InvocationRecordSink, ...observers: Array<Pick<InvocationRecordSink, 'record'> | null>): InvocationRecordSink {
  const watching = observers.filter((o): o is Pick<InvocationRecordSink, 'record'> => o !== null);
  if (watching.length === 0) return writer;
  return {
    record: (r) => {
      writer.record(r);
      for (const o of watching) o.record(r);
    },
    ...(writer.flush ? { flush: () => writer.flush!() } : {}),
  };
}

/** For wiring without records (tests, tools). */
export const discardRecords: InvocationRecordSink = { record: () => {} };

export interface RecordWriterOptions {
  flushMs?: number;
  maxBatch?: number;
  /** Records held while the store is unreachable; past it new ones are dropped, and counted. */
  maxPending?: number;
  /** The longest wait between two tries of a failing store. */
  maxRetryMs?: number;
  retention?: InvocationRetention;
  logger?: Logger;
  /** Where the usage of each stored batch is counted (stratus_billed_*_total); core/platform-metrics.ts fits. */
  metrics?: BilledMetrics;
}

type FunctionLabel = { function: string };
export interface BilledMetrics {
  billedGbSeconds: { inc(labels: FunctionLabel, n: number): void };
  billedRequests: { inc(labels: FunctionLabel, n: number): void };
}

/** 1 GB-s is 1024 MB × 1000 ms. */
const MB_MS_PER_GB_S = 1_024_000;

export class BatchedRecordWriter extends Closeable implements InvocationRecordSink {
  #pending: InvocationRecord[] = [];
  #writing: Promise<boolean> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #dropped = 0;
  /** Consecutive failed writes: the next try waits flushMs × 2^failures, at most maxRetryMs. */
  #failures = 0;
  /** A stop began: a flush tries once more, then returns (see endRetries). */
  #stopping = false;
  readonly #o: Required<Omit<RecordWriterOptions, 'logger' | 'metrics'>>;
  readonly #log: Logger;
  readonly #metrics: BilledMetrics | undefined;

  constructor(
    private readonly store: Pick<Store, 'appendInvocations'>,
    opts: RecordWriterOptions = {},
  ) {
    super();
    this.#o = { flushMs: opts.flushMs ?? 250, maxBatch: opts.maxBatch ?? 500, maxPending: opts.maxPending ?? 20_000, maxRetryMs: opts.maxRetryMs ?? 5000, retention: opts.retention ?? DEFAULT_RETENTION };
    this.#log = (opts.logger ?? silentLogger).child({ component: 'invocation-records' });
    this.#metrics = opts.metrics;
  }

  /** Records dropped: more than maxPending waited for the store, or it still failed when the writer closed. */
  get dropped(): number {
    return this.#dropped;
  }

  record(r: InvocationRecord): void {
    if (this.closed) return;
    if (this.#pending.length >= this.#o.maxPending) {
      if (this.#dropped++ === 0) this.#log.warn('dropping invocation records: the store is not keeping up');
      return;
    }
    this.#pending.push(r);
    if (this.#pending.length >= this.#o.maxBatch) this.#kick();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#kick();
      }, this.#o.flushMs);
      this.#timer.unref();
    }
  }

  /**
   * A stop began: from now on a flush tries once and returns, as after close. An async attempt waits in
   * flush for its record; the stop waits for the attempt (the async queue's close, work phase) before it
   * closes this writer (state phase) — so with the store away, a flush that kept retrying held the stop
   * until the process's bound. The attempt's job is not marked done either then; it runs again later.
   */
  endRetries(): void {
    this.#stopping = true;
  }

  /**
   * Writes everything pending and waits until it is stored: an async attempt's record is stored before
   * its job is marked done. While the store fails this keeps trying, with backoff (the job could not be
   * marked done meanwhile either); once the writer is closed or a stop began (endRetries), one try is all.
   */
  async flush(): Promise<void> {
    for (;;) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      if (!this.#writing && this.#pending.length === 0) return;
      this.#kick();
      if ((await this.#writing) !== false) continue;
      if (this.closed || this.#stopping) return;
      await new Promise((r) => setTimeout(r, this.#retryMs()).unref());
    }
  }

  protected override async doClose(): Promise<void> {
    await this.flush();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    // Nothing tries again after the close: what the store still refused is lost now.
    this.#dropped += this.#pending.splice(0).length;
    if (this.#dropped > 0) this.#log.warn('invocation records were dropped', { dropped: this.#dropped });
  }

  /** One write at a time: what arrives meanwhile goes into the next batch. Resolves to whether it was stored. */
  #kick(): void {
    if (this.#writing || this.#pending.length === 0) return;
    const batch = this.#pending.splice(0, this.#o.maxBatch);
    const writing: Promise<boolean> = this.store.appendInvocations(batch, this.#o.retention).then(
      () => {
        if (this.#failures > 0) this.#log.info('invocation records are written again', { afterFailedTries: this.#failures });
        this.#failures = 0;
        this.#countBilled(batch);
        return true;
      },
      (err: unknown) => {
        // Back in front, in order; what no longer fits under maxPending is dropped, and counted.
        const room = Math.max(0, this.#o.maxPending - this.#pending.length);
        this.#pending.unshift(...batch.slice(0, room));
        this.#dropped += Math.max(0, batch.length - room);
        if (this.#failures++ === 0) this.#log.warn('an invocation-record write failed; its records are kept and written again when the store answers', { records: batch.length, error: err as Error });
        return false;
      },
    );
    this.#writing = writing;
    void writing.then((stored) => {
      this.#writing = null;
      if (this.closed) return; // close() writes what is left, with one try, and counts what still fails
      if (stored && this.#pending.length >= this.#o.maxBatch) this.#kick();
      else if (this.#pending.length > 0 && !this.#timer) {
        this.#timer = setTimeout(() => { this.#timer = null; this.#kick(); }, stored ? this.#o.flushMs : this.#retryMs()).unref();
      }
    });
  }

  /**
   * Counted once a batch is stored, once: a batch written again after a failed try is counted when it
   * finally goes through. Summed per function first, so a float add happens per function and batch.
   */
  #countBilled(batch: InvocationRecord[]): void {
    if (!this.#metrics) return;
    const byFunction = new Map<string, { requests: number; mbMs: number }>();
    for (const r of batch) {
      const m = meter(r);
      const sum = byFunction.get(m.function) ?? { requests: 0, mbMs: 0 };
      sum.requests += 1;
      sum.mbMs += m.mbMs;
      byFunction.set(m.function, sum);
    }
    for (const [fn, sum] of byFunction) {
      this.#metrics.billedRequests.inc({ function: fn }, sum.requests);
      this.#metrics.billedGbSeconds.inc({ function: fn }, sum.mbMs / MB_MS_PER_GB_S);
    }
  }

  #retryMs(): number {
    return Math.min(this.#o.maxRetryMs, this.#o.flushMs * 2 ** this.#failures);
  }
}
