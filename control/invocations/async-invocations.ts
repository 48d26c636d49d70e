// Async invocations: what the API and the function URL submit (answered 202 at once), and what this
// process's queue worker runs. An invocation is a job whose id is the invocation id (a repeated enqueue is
// deduplicated by the queue) and whose attempts and backoff come from the function's config when it is
// submitted; each attempt resolves the function's current version then (a replay after a fix runs the
// fixed code) and calls it through the Invoker as a CloudEvent. A 5xx, crash or timeout fails the attempt.

import { asyncPolicy } from '../../core/function-config.js';
import { newInvocationId } from '../../core/ids.js';
import type { DeployedVersion } from '../../core/types.js';
import { AttemptFailed, type AsyncJob, type AsyncQueue, type AsyncResult, type AsyncStatus } from './async-queue.js';
import type { ScopedIdempotencyKey } from './idempotency.js';
import type { Invoker } from './invoker.js';

export const ASYNC_EVENT_TYPE = 'dev.stratus.invocation.async';
/** A submitted event's JSON body is bounded like a result: the queue lives in Redis. */
export const MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024;
export const DEFAULT_IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;

export interface Submitted {
  id: string;
  /** True when an idempotency key named an earlier invocation: nothing new was queued. */
  duplicate: boolean;
  /**
   * 'queued' for a new one; a duplicate's current status (it may have run already), or 'unknown' when the
   * queue does not know that id (the first submission is still queuing it, or it is older than what is kept).
   */
  status: AsyncStatus | 'unknown';
  links: { self: string; logs: string; function: string };
}

export interface SubmitOptions {
  /** The sender's Idempotency-Key with its scope (idempotency.ts: scopedIdempotencyKey). */
  idempotencyKey?: ScopedIdempotencyKey;
  type?: string;
  source?: string;
  subject?: string;
  /** ISO time the event happened (a cron tick's scheduled time); default: when it was submitted. */
  time?: string;
  trigger?: AsyncJob['trigger'];
}

export interface AsyncInvocationsDeps {
  queue: AsyncQueue;
  invoker: Invoker;
  /** The function's current deployed version (FUNCTION_NOT_FOUND / FUNCTION_NOT_READY otherwise). */
  resolve(name: string): Promise<DeployedVersion>;
  idempotencyWindowMs: number;
}

export class AsyncInvocations {
  constructor(private readonly deps: AsyncInvocationsDeps) {}

  get queue(): AsyncQueue {
    return this.deps.queue;
  }

  /**
   * Queues an invocation of `fn` with `data`. Triggers (cron, storage) pass their own CloudEvent type,
   * source and subject, and name themselves as the trigger; the API and the function URL use the defaults.
   */
  async submit(fn: string, data: unknown, opts: SubmitOptions = {}): Promise<Submitted> {
    const target = await this.deps.resolve(fn);
    const fresh = newInvocationId();
    const id = opts.idempotencyKey === undefined ? fresh : await this.deps.queue.claimIdempotencyKey(fn, opts.idempotencyKey, fresh, this.deps.idempotencyWindowMs);
    if (id === fresh) {
      const event = { type: opts.type ?? ASYNC_EVENT_TYPE, source: opts.source ?? `/functions/${fn}`, ...(opts.subject ? { subject: opts.subject } : {}), ...(opts.time ? { time: opts.time } : {}), data };
      const job: AsyncJob = { id, function: fn, event, requestedAt: new Date().toISOString(), ...(opts.trigger ? { trigger: opts.trigger } : {}) };
      try {
        await this.deps.queue.enqueue(job, asyncPolicy(target.config));
      } catch (err) {
        // Not queued after all: a retry with the same key must queue it, not be told of an id that never ran.
        if (opts.idempotencyKey !== undefined) await this.deps.queue.releaseIdempotencyKey(fn, opts.idempotencyKey, id).catch(() => {});
        throw err;
      }
    }
    // A repeat is told what became of the first one, not "queued" for one that has run already.
    const status = id === fresh ? 'queued' : ((await this.deps.queue.get(id))?.status ?? 'unknown');
    return { id, duplicate: id !== fresh, status, links: invocationLinks(fn, id) };
  }

  /** The queue worker's processor: one attempt. */
  readonly process = async (job: AsyncJob, attempt: number): Promise<AsyncResult> => {
    let target: DeployedVersion;
    try {
      target = await this.deps.resolve(job.function);
    } catch (err) {
      throw new AttemptFailed((err as { code?: string }).code ?? 'INTERNAL', (err as Error).message);
    }
    const r = await this.deps.invoker.invoke(target, { id: job.id, time: job.requestedAt, ...job.event }, { trigger: job.trigger ?? 'async', attempt });
    if (r.outcome === 'failed') throw new AttemptFailed(r.error ?? 'FUNCTION_ERROR', r.message ?? `function ${job.function} answered ${r.statusCode}`);
    return { statusCode: r.statusCode, contentType: r.contentType, body: r.body, truncated: r.truncated };
  };
}

export const invocationLinks = (fn: string, id: string): Submitted['links'] => ({ self: `/v1/invocations/${id}`, logs: `/v1/invocations/${id}/logs`, function: `/v1/functions/${fn}` });
