// The delivery queue seam: runs each delivery's attempts until the processor says it is done, waiting
// between them as the processor asks (retry.ts). BullMQ on Redis — a delivery waiting for its next
// attempt survives a restart, and another replica's worker takes over the jobs of one that died — and an
// in-memory twin for a platform without Redis, where pending retries end with the process (start-up
// already says loudly that the store is in memory).

import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { closeBullParts, tracked } from '../../core/bull-close.js';
import { Closeable } from '../../core/lifecycle.js';
import { bullPrefix } from '../../core/redis-client.js';
import type { Logger } from '../../core/log.js';
import type { ChannelKind } from './channel.js';
import type { NotifyEvent } from '../../core/ports/notifier.js';

export interface DeliveryJob {
  deliveryId: string;
  event: NotifyEvent;
  channel: ChannelKind;
  owner: 'global' | 'function';
}

/** After an attempt: null when the delivery is over (delivered, or given up), else the wait before the next one. */
export type AttemptVerdict = { retryInMs: number } | null;
export type DeliveryProcessor = (job: DeliveryJob, attempt: number) => Promise<AttemptVerdict>;

export interface DeliveryQueue {
  /** Queues a delivery for its first attempt; `maxAttempts` also bounds the retries of a processor that throws. */
  enqueue(job: DeliveryJob, maxAttempts: number): Promise<void>;
  start(processor: DeliveryProcessor): void;
  /** Stops taking attempts and waits for the ones under way. */
  close(): Promise<void>;
}

/** The wait after a processor that threw (its own bookkeeping failed, e.g. Redis away): not the delivery's backoff. */
const AFTER_CRASH_MS = 5000;

class RetryLater extends Error {
  constructor(readonly delayMs: number) {
    super(`next attempt in ${delayMs} ms`);
  }
}

export class BullDeliveryQueue extends Closeable implements DeliveryQueue {
  readonly #queue: Queue<DeliveryJob>;
  #worker: Worker<DeliveryJob> | null = null;
  readonly #prefix: string;
  /** The attempts under way: what a stop waits for, whatever Redis does meanwhile. */
  readonly #running = new Set<Promise<unknown>>();

  /** `connection` is the caller's, made for BullMQ (core/redis-client.ts, use 'bullmq'); not closed here. */
  constructor(private readonly o: { connection: Redis; prefix: string; concurrency: number; logger: Logger }) {
    super();
    // Beside the async-invocation queue (control/invocations/async-queue.ts), under the platform's prefix.
    this.#prefix = bullPrefix(o.prefix);
    this.#queue = new Queue<DeliveryJob>('notify', { connection: o.connection, prefix: this.#prefix });
    this.#queue.on('error', (err) => o.logger.warn('notification queue: Redis error', { error: err.message }));
  }

  async enqueue(job: DeliveryJob, maxAttempts: number): Promise<void> {
    // The delivery record keeps the history: a finished job has nothing more to say.
    await this.#queue.add('deliver', job, { jobId: job.deliveryId, attempts: maxAttempts, backoff: { type: 'notify' }, removeOnComplete: true, removeOnFail: { age: 7 * 86_400 } });
  }

  start(processor: DeliveryProcessor): void {
    if (this.#worker || this.closed) return;
    this.#worker = new Worker<DeliveryJob>(
      'notify',
      async (job) => {
        const verdict = await tracked(this.#running, () => processor(job.data, job.attemptsMade + 1));
        if (verdict) throw new RetryLater(verdict.retryInMs);
      },
      {
        connection: this.o.connection, prefix: this.#prefix, concurrency: this.o.concurrency,
        settings: { backoffStrategy: (_made, _type, err) => (err instanceof RetryLater ? err.delayMs : AFTER_CRASH_MS) },
      },
    );
    this.#worker.on('error', (err) => this.o.logger.warn('notification worker: error', { error: err.message }));
  }

  protected override async doClose(): Promise<void> {
    // Waits for the attempts under way, for their outcome's writes only while Redis is there (core/bull-close.ts).
    // The connection is the caller's (services/notify/index.ts drops it after this).
    await closeBullParts({ worker: this.#worker, queue: this.#queue, connection: this.o.connection, running: this.#running });
  }
}

interface Pending {
  job: DeliveryJob;
  attempt: number;
  maxAttempts: number;
}

export class MemoryDeliveryQueue extends Closeable implements DeliveryQueue {
  readonly #ready: Pending[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #running = new Set<Promise<void>>();
  #processor: DeliveryProcessor | null = null;

  constructor(private readonly o: { concurrency: number; logger: Logger }) {
    super();
  }

  async enqueue(job: DeliveryJob, maxAttempts: number): Promise<void> {
    if (this.closed) return;
    this.#ready.push({ job: structuredClone(job), attempt: 1, maxAttempts });
    this.#pump();
  }

  start(processor: DeliveryProcessor): void {
    this.#processor = processor;
    this.#pump();
  }

  #pump(): void {
    while (this.#processor && !this.closed && this.#running.size < this.o.concurrency && this.#ready.length > 0) {
      const run = this.#run(this.#ready.shift()!, this.#processor).finally(() => {
        this.#running.delete(run);
        this.#pump();
      });
      this.#running.add(run);
    }
  }

  async #run(p: Pending, processor: DeliveryProcessor): Promise<void> {
    let verdict: AttemptVerdict;
    try {
      verdict = await processor(p.job, p.attempt);
    } catch (err) {
      this.o.logger.warn('notification delivery failed unexpectedly', { delivery: p.job.deliveryId, err });
      verdict = p.attempt < p.maxAttempts ? { retryInMs: AFTER_CRASH_MS } : null;
    }
    if (!verdict || this.closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#ready.push({ ...p, attempt: p.attempt + 1 });
      this.#pump();
    }, verdict.retryInMs);
    this.#timers.add(timer);
  }

  protected override async doClose(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#ready.length = 0;
    await Promise.all(this.#running);
  }
}
