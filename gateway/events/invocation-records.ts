// The invocation-record seam: every data plane (the Node proxy today, the async worker, a native proxy
// later) emits one InvocationRecord per call through record(), synchronously and without I/O; the
// BatchedRecordWriter turns them into one store write every flushMs or maxBatch records, so recording a
// warm call costs no Redis round trip of its own.

import { Closeable } from '../../core/lifecycle.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { DEFAULT_RETENTION, type InvocationRecord, type InvocationRetention } from '../../core/store/invocations.js';
import type { Store } from '../../core/store/store.js';

export interface InvocationRecordSink {
  /** Takes a finished call's record; never throws, never waits. */
  record(r: InvocationRecord): void;
  /** Writes what is pending; for a caller that must know its record is stored (an async job, before it is marked done). */
  flush?(): Promise<void>;
}

/** For wiring without records (tests, tools). */
export const discardRecords: InvocationRecordSink = { record: () => {} };

export interface RecordWriterOptions {
  flushMs?: number;
  maxBatch?: number;
  /** Records held while the store is unreachable; past it new ones are dropped, and counted. */
  maxPending?: number;
  retention?: InvocationRetention;
  logger?: Logger;
}

export class BatchedRecordWriter extends Closeable implements InvocationRecordSink {
  #pending: InvocationRecord[] = [];
  #writing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #dropped = 0;
  readonly #o: Required<Omit<RecordWriterOptions, 'logger'>>;
  readonly #log: Logger;

  constructor(
    private readonly store: Pick<Store, 'appendInvocations'>,
    opts: RecordWriterOptions = {},
  ) {
    super();
    this.#o = { flushMs: opts.flushMs ?? 250, maxBatch: opts.maxBatch ?? 500, maxPending: opts.maxPending ?? 20_000, retention: opts.retention ?? DEFAULT_RETENTION };
    this.#log = (opts.logger ?? silentLogger).child({ component: 'invocation-records' });
  }

  /** Records dropped because the store could not keep up or a write failed. */
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

  /** Writes everything pending, and waits for it. */
  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    while (this.#writing || this.#pending.length > 0) {
      this.#kick();
      await this.#writing;
    }
  }

  protected override async doClose(): Promise<void> {
    await this.flush();
    if (this.#dropped > 0) this.#log.warn('invocation records were dropped', { dropped: this.#dropped });
  }

  /** One write at a time: what arrives meanwhile goes into the next batch. */
  #kick(): void {
    if (this.#writing || this.#pending.length === 0) return;
    const batch = this.#pending.splice(0, this.#o.maxBatch);
    this.#writing = this.store.appendInvocations(batch, this.#o.retention).then(
      () => undefined,
      (err: unknown) => {
        this.#dropped += batch.length;
        this.#log.warn('an invocation-record write failed; its records are dropped', { records: batch.length, error: err as Error });
      },
    ).finally(() => {
      this.#writing = null;
      if (this.#pending.length >= this.#o.maxBatch) this.#kick();
      else if (this.#pending.length > 0 && !this.#timer && !this.closed) this.#timer = setTimeout(() => { this.#timer = null; this.#kick(); }, this.#o.flushMs).unref();
    });
  }
}
