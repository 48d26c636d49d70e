// The async-invocation queue seam, with its two implementations side by side: BullMQ on Redis (retries
// with exponential backoff, stalled-job recovery when a worker dies, deduplication by job id = invocation
// id, failed jobs kept as dead letters) and an in-memory twin for running without Redis. Delivery is at
// least once: a job whose worker died mid-call is run again by another worker (or after a restart).

import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Closeable } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { closeBullParts, tracked } from '../../core/bull-close.js';
import { bullPrefix, createRedisClient } from '../../core/redis-client.js';
import type { InvocationTrigger } from '../../core/store/invocations.js';
import type { ScopedIdempotencyKey } from './idempotency.js';

export interface AsyncJob {
  id: string;
  function: string;
  /** The CloudEvent's attributes; `time` defaults to requestedAt. */
  event: { type: string; source: string; subject?: string; time?: string; data: unknown };
  requestedAt: string;
  /** What submitted it (recorded with each attempt); absent: 'async'. */
  trigger?: Exclude<InvocationTrigger, 'http'>;
}

export interface AttemptPolicy {
  maxAttempts: number;
  backoffMs: number;
}

/** What a succeeded attempt leaves (a failed one throws an AttemptFailed). */
export interface AsyncResult {
  statusCode: number;
  contentType: string | null;
  body: string;
  truncated: boolean;
}

export class AttemptFailed extends Error {
  constructor(readonly code: string, message: string) {
    super(`${code}: ${message}`);
  }
}

export type AsyncStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'dead';

export interface AsyncView {
  id: string;
  function: string;
  /** What submitted it: 'async' (the API or the function URL), 'cron' or 'storage'. */
  trigger: Exclude<InvocationTrigger, 'http'>;
  status: AsyncStatus;
  attempts: number;
  maxAttempts: number;
  result: AsyncResult | null;
  error: { code: string; message: string } | null;
  timings: { queuedAt: string; startedAt: string | null; finishedAt: string | null };
}

export type AsyncProcessor = (job: AsyncJob, attempt: number) => Promise<AsyncResult>;

export interface AsyncQueue {
  /** Queues a job; a job of the same id already known is left as it is (deduplicated). */
  enqueue(job: AsyncJob, policy: AttemptPolicy): Promise<void>;
  get(id: string): Promise<AsyncView | null>;
  /** A function's jobs that failed their last attempt, newest first. */
  deadLetters(fn: string, limit?: number): Promise<AsyncView[]>;
  /** Queues dead letters again with fresh attempts (one by id, or all of the function's); returns their ids. */
  replay(fn: string, id?: string): Promise<string[]>;
  /**
   * The id stored under (fn, key) within the window, stored as `id` when there is none yet. The key carries
   * its sender's scope (idempotency.ts), so one sender's key never answers for another's.
   */
  claimIdempotencyKey(fn: string, key: ScopedIdempotencyKey, id: string, windowMs: number): Promise<string>;
  /** Gives a claimed key back (only while it still names `id`): its invocation could not be queued after all. */
  releaseIdempotencyKey(fn: string, key: ScopedIdempotencyKey, id: string): Promise<void>;
  /** Starts this process's worker. */
  start(processor: AsyncProcessor): void;
  close(): Promise<void>;
}

export const DEAD_LETTERS_LISTED = 1000;

const parseFailure = (reason: string | undefined): AsyncView['error'] => {
  if (!reason) return null;
  const cut = reason.indexOf(': ');
  return cut > 0 && /^[A-Z_]+$/.test(reason.slice(0, cut)) ? { code: reason.slice(0, cut), message: reason.slice(cut + 2) } : { code: 'INTERNAL', message: reason };
};
const iso = (ms: number | undefined | null): string | null => (ms ? new Date(ms).toISOString() : null);

export interface BullQueueOptions {
  redisUrl: string;
  /** The platform's Redis key prefix (core/store/redis-keys.ts): two platforms on one Redis never share a queue. */
  prefix: string;
  concurrency: number;
  /** A worker's lock on a job; a worker that dies lets its jobs be taken over after about this long. */
  lockMs: number;
  /** Succeeded jobs (with their results) are kept this long. */
  keepMs: number;
  logger: Logger;
}

export class BullAsyncQueue extends Closeable implements AsyncQueue {
  readonly #queue: Queue<AsyncJob, AsyncResult>;
  readonly #redis: Redis;
  #worker: Worker<AsyncJob, AsyncResult> | null = null;
  readonly #prefix: string;
  /** The processors under way: what a stop waits for, whatever Redis does meanwhile. */
  readonly #running = new Set<Promise<unknown>>();

  constructor(private readonly o: BullQueueOptions) {
    super();
    this.#prefix = bullPrefix(o.prefix);
    // No logger: commands made while Redis is away fail as their callers' errors; the queue logs its own.
    this.#redis = createRedisClient(o.redisUrl, { name: 'stratus-async', use: 'bullmq' });
    this.#queue = new Queue<AsyncJob, AsyncResult>('async', { connection: this.#redis, prefix: this.#prefix });
    this.#queue.on('error', (err) => o.logger.warn('async queue: Redis error', { error: err.message }));
  }

  async enqueue(job: AsyncJob, policy: AttemptPolicy): Promise<void> {
    await this.#queue.add(job.function, job, {
      jobId: job.id, attempts: policy.maxAttempts, backoff: { type: 'exponential', delay: policy.backoffMs },
      removeOnComplete: { age: Math.ceil(this.o.keepMs / 1000) }, removeOnFail: { age: Math.ceil(this.o.keepMs / 1000) },
    });
  }

  async get(id: string): Promise<AsyncView | null> {
    // State first, then the job: a job read before its state could be 'completed' without its result yet.
    const state = await this.#queue.getJobState(id);
    if (state === 'unknown') return null;
    const job = await this.#queue.getJob(id);
    return job ? this.#view(job, state) : null;
  }

  async deadLetters(fn: string, limit = DEAD_LETTERS_LISTED): Promise<AsyncView[]> {
    const failed = await this.#queue.getFailed(0, DEAD_LETTERS_LISTED - 1);
    return failed.filter((j) => j.name === fn).slice(0, limit).map((j) => this.#view(j, 'failed'));
  }

  async replay(fn: string, id?: string): Promise<string[]> {
    const jobs = id === undefined ? await this.#queue.getFailed(0, DEAD_LETTERS_LISTED - 1) : [await this.#queue.getJob(id)];
    const replayed: string[] = [];
    for (const job of jobs) {
      if (!job || job.name !== fn || (await job.getState()) !== 'failed') continue;
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      replayed.push(job.id!);
    }
    return replayed;
  }

  async claimIdempotencyKey(fn: string, key: ScopedIdempotencyKey, id: string, windowMs: number): Promise<string> {
    const k = `${this.o.prefix}idempotency:${fn}:${key}`;
    const set = await this.#redis.set(k, id, 'PX', windowMs, 'NX');
    return set === 'OK' ? id : ((await this.#redis.get(k)) ?? id);
  }

  async releaseIdempotencyKey(fn: string, key: ScopedIdempotencyKey, id: string): Promise<void> {
    // Compare and delete in one step: a key another submission claimed meanwhile stays.
    await this.#redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, `${this.o.prefix}idempotency:${fn}:${key}`, id);
  }

  start(processor: AsyncProcessor): void {
    if (this.#worker || this.closed) return;
    this.#worker = new Worker<AsyncJob, AsyncResult>('async', async (job) => tracked(this.#running, () => processor(job.data, job.attemptsMade + 1)), {      connection: this.#redis, prefix: this.#prefix, concurrency: this.o.concurrency,
      lockDuration: this.o.lockMs, stalledInterval: this.o.lockMs, maxStalledCount: 3,
    });
    this.#worker.on('error', (err) => this.o.logger.warn('async worker: error', { error: err.message }));
  }

  #view(job: Job<AsyncJob, AsyncResult>, state: string): AsyncView {
    const max = job.opts.attempts ?? 1;
    const status: AsyncStatus = state === 'completed' ? 'succeeded' : state === 'failed' ? 'dead' : state === 'active' ? 'running' : job.attemptsMade > 0 ? 'failed' : 'queued';
    return {
      id: job.id!, function: job.name, trigger: job.data.trigger ?? 'async', status, attempts: job.attemptsMade, maxAttempts: max,
      result: status === 'succeeded' ? (job.returnvalue ?? null) : null,
      error: status === 'succeeded' ? null : parseFailure(job.failedReason),
      timings: { queuedAt: iso(job.timestamp)!, startedAt: iso(job.processedOn), finishedAt: iso(job.finishedOn) },
    };
  }

  protected override async doClose(): Promise<void> {
    // Waits for the jobs under way (a graceful stop finishes them), for their results' writes only while Redis is there.
    await closeBullParts({ worker: this.#worker, queue: this.#queue, connection: this.#redis, running: this.#running });
    this.#redis.disconnect(); // no QUIT: with Redis away it would wait for a reconnect
  }

  /** Stops the worker without waiting for its jobs nor giving them up, as a killed process would. Tests only. */
  async abandon(): Promise<void> {
    await this.#worker?.close(true);
    this.#worker = null;
  }
}
