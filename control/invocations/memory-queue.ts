// The in-memory twin of BullAsyncQueue (async-queue.ts) for a platform running without Redis: the same
// statuses, retries with exponential backoff, dead letters and replay, but nothing survives a restart
// (start-up says so loudly when the store is in memory).

import { Closeable } from '../../core/lifecycle.js';
import { AttemptFailed, type AsyncJob, type AsyncProcessor, type AsyncQueue, type AsyncView, type AttemptPolicy, DEAD_LETTERS_LISTED } from './async-queue.js';
import type { ScopedIdempotencyKey } from './idempotency.js';

/** Finished invocations (and idempotency keys) kept at most: the oldest go first. */
const KEPT = 10_000;

interface Entry {
  job: AsyncJob;
  policy: AttemptPolicy;
  view: AsyncView;
}

export class MemoryAsyncQueue extends Closeable implements AsyncQueue {
  readonly #entries = new Map<string, Entry>();
  readonly #ready: Entry[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #keys = new Map<string, { id: string; until: number }>();
  #processor: AsyncProcessor | null = null;
  #running = 0;

  constructor(private readonly o: { concurrency: number }) {
    super();
  }

  async enqueue(job: AsyncJob, policy: AttemptPolicy): Promise<void> {
    if (this.#entries.has(job.id)) return;
    const entry: Entry = {
      job: structuredClone(job), policy,
      view: { id: job.id, function: job.function, trigger: job.trigger ?? 'async', status: 'queued', attempts: 0, maxAttempts: policy.maxAttempts, result: null, error: null, timings: { queuedAt: new Date().toISOString(), startedAt: null, finishedAt: null } },
    };
    this.#entries.set(job.id, entry);
    this.#ready.push(entry);
    this.#pump();
  }

  async get(id: string): Promise<AsyncView | null> {
    const e = this.#entries.get(id);
    return e ? structuredClone(e.view) : null;
  }

  async deadLetters(fn: string, limit = DEAD_LETTERS_LISTED): Promise<AsyncView[]> {
    return [...this.#entries.values()].filter((e) => e.job.function === fn && e.view.status === 'dead').reverse().slice(0, limit).map((e) => structuredClone(e.view));
  }

  async replay(fn: string, id?: string): Promise<string[]> {
    const dead = [...this.#entries.values()].filter((e) => e.job.function === fn && e.view.status === 'dead' && (id === undefined || e.job.id === id));
    for (const e of dead) {
      Object.assign(e.view, { status: 'queued', attempts: 0, error: null });
      this.#ready.push(e);
    }
    this.#pump();
    return dead.map((e) => e.job.id);
  }

  async releaseIdempotencyKey(fn: string, key: ScopedIdempotencyKey, id: string): Promise<void> {
    const k = `${fn}\n${key}`;
    if (this.#keys.get(k)?.id === id) this.#keys.delete(k);
  }

  async claimIdempotencyKey(fn: string, key: ScopedIdempotencyKey, id: string, windowMs: number): Promise<string> {
    const k = `${fn}\n${key}`;
    const now = Date.now();
    const held = this.#keys.get(k);
    if (held && held.until > now) return held.id;
    this.#keys.set(k, { id, until: now + windowMs });
    if (this.#keys.size > KEPT) {
      for (const [key, v] of this.#keys) if (v.until <= now || this.#keys.size > KEPT) this.#keys.delete(key);
    }
    return id;
  }

  start(processor: AsyncProcessor): void {
    this.#processor = processor;
    this.#pump();
  }

  #pump(): void {
    while (this.#processor && !this.closed && this.#running < this.o.concurrency && this.#ready.length > 0) {
      const entry = this.#ready.shift()!;
      this.#running++;
      void this.#attempt(entry, this.#processor).finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }

  async #attempt(e: Entry, processor: AsyncProcessor): Promise<void> {
    const v = e.view;
    Object.assign(v, { status: 'running' });
    v.timings.startedAt = new Date().toISOString();
    try {
      v.result = await processor(e.job, v.attempts + 1);
      v.attempts++;
      Object.assign(v, { status: 'succeeded', error: null });
    } catch (err) {
      v.attempts++;
      v.error = err instanceof AttemptFailed ? { code: err.code, message: err.message.slice(err.code.length + 2) } : { code: 'INTERNAL', message: String(err) };
      if (v.attempts >= e.policy.maxAttempts) v.status = 'dead';
      else {
        v.status = 'failed';
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          v.status = 'queued';
          this.#ready.push(e);
          this.#pump();
        }, e.policy.backoffMs * 2 ** (v.attempts - 1));
        this.#timers.add(timer);
      }
    }
    v.timings.finishedAt = new Date().toISOString();
    if (this.#entries.size > KEPT) this.#forgetFinished();
  }

  /** Drops the oldest succeeded or dead entries down to KEPT (Map order is insertion order). */
  #forgetFinished(): void {
    for (const [id, e] of this.#entries) {
      if (this.#entries.size <= KEPT) return;
      if (e.view.status === 'succeeded' || e.view.status === 'dead') this.#entries.delete(id);
    }
  }

  protected override async doClose(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}
