// Storage triggers: every object change of Stratus's own S3 storage (StorageEvents.onObject) and every
// event a MinIO posts to /v1/hooks/storage/minio is matched against the storage triggers of this
// replica's TriggerIndex (no store read per event); each match queues an async invocation of the
// trigger's function (retries, dead letters and the CloudEvent to the runtime come with that path) whose
// data is S3's event message, and the fire is kept with its result.
//
// Stratus's own events are fire-and-forget: the S3 request that caused one has already been answered
// from disk and must never wait on Redis or fail because of a trigger. MinIO's are awaited, so that the
// hook can answer an error when an invocation could not be queued and MinIO (with a queue_dir) delivers
// the event again; a fire's idempotency key (trigger, object, event, ETag, sequencer) makes that repeat
// queue nothing twice.

import { StratusError } from '../../core/errors.js';
import { Closeable, type Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { TriggerFire, TriggerStore } from '../../core/store/triggers.js';
import type { StorageTrigger } from '../../core/triggers.js';
import type { SubmitOptions, Submitted } from '../invocations/async-invocations.js';
import { scopedIdempotencyKey, type Submitter } from '../invocations/idempotency.js';
import type { TriggerIndex } from './trigger-index.js';
import { cloudEventOf, fireKey, s3EventMessage, STRATUS_REGION, triggerMatches, type ObjectEvent } from './storage-match.js';
import type { StorageEvent, StorageEvents } from '../../core/ports/storage-events.js';

/** A fire's key is Stratus's own: no caller of the API or a function URL can send one that matches it. */
const STORAGE_FIRES: Submitter = Object.freeze({ kind: 'internal', source: 'storage' });

export interface StorageDispatcherDeps {
  index: Pick<TriggerIndex, 'ofType'>;
  store: Pick<TriggerStore, 'recordTriggerFire'>;
  /** The async path (AsyncInvocations.submit). */
  submit(fn: string, data: unknown, opts: SubmitOptions): Promise<Submitted>;
  clock: Clock;
  logger: Logger;
}

/** What became of one event's fires. */
export interface DispatchSummary {
  /** Triggers the event matched. */
  matched: number;
  /** Invocations queued now. */
  queued: number;
  /** Fires an earlier delivery of the same event had already queued. */
  duplicates: number;
  /** Fires that failed because of their function (deleted, never built): a repeat would fail again. */
  failed: number;
  /** Fires that failed for want of the queue (Redis): a repeated delivery may succeed. */
  unqueued: number;
}

type FireOutcome = Exclude<keyof DispatchSummary, 'matched'>;

/** Codes that say the trigger's function cannot take the event now, not that the queue failed. */
const FUNCTION_FAULTS = new Set(['FUNCTION_NOT_FOUND', 'FUNCTION_NOT_READY']);

export class StorageDispatcher extends Closeable {
  readonly #pending = new Set<Promise<unknown>>();
  readonly #unsubscribe: Array<() => void> = [];
  /** The last sequencer given to one of Stratus's own events (ns since the epoch, kept increasing). */
  #lastSequence = 0n;

  constructor(private readonly deps: StorageDispatcherDeps) {
    super();
  }

  /** Follows Stratus's own object events (none when the S3 storage is off). */
  follow(events: StorageEvents | null): void {
    if (!events || this.closed) return;
    this.#unsubscribe.push(events.onObject((e) => this.#onStratusEvent(e)));
  }

  /** MinIO's events, from the webhook: resolves once each matching trigger's invocation is queued or failed. */
  async fromMinio(events: ObjectEvent[]): Promise<DispatchSummary> {
    if (this.closed) throw new StratusError('SHUTTING_DOWN', 'Stratus is stopping; the event was not taken (MinIO delivers it again)', { retryAfterSeconds: 5 });
    const summaries = await Promise.all(events.map((e) => this.#track(this.dispatch(e))));
    return summaries.reduce(add, empty());
  }

  /** Fires every storage trigger `e` matches. Never rejects: each fire's failure is logged and kept. */
  async dispatch(e: ObjectEvent): Promise<DispatchSummary> {
    const summary = empty();
    const matching = this.deps.index.ofType('storage').filter((t) => triggerMatches(t, e));
    summary.matched = matching.length;
    for (const outcome of await Promise.all(matching.map((t) => this.#fire(t, e)))) summary[outcome]++;
    return summary;
  }

  #onStratusEvent(se: StorageEvent): void {
    if (this.closed) return;
    const e: ObjectEvent = { source: 'stratus', name: se.name, bucket: se.bucket, key: se.key, size: se.size, etag: se.etag, time: se.time, sequencer: this.#sequencer(se.time), region: STRATUS_REGION };
    void this.#track(this.dispatch(e));
  }

  async #fire(t: StorageTrigger, e: ObjectEvent): Promise<FireOutcome> {
    const record = (f: Pick<TriggerFire, 'invocationId' | 'result' | 'reason'>) =>
      this.deps.store.recordTriggerFire(t.id, { at: e.time, firedAt: new Date(this.deps.clock.now()).toISOString(), ...f, key: e.key }).catch((err: unknown) => {
        this.deps.logger.warn('could not keep a storage trigger fire', { function: t.function, trigger: t.id, err });
      });
    try {
      const submitted = await this.deps.submit(t.function, s3EventMessage(t, e), { ...cloudEventOf(e), trigger: 'storage', idempotencyKey: scopedIdempotencyKey(STORAGE_FIRES, fireKey(t, e)) });
      // A repeated delivery: the first one's fire is kept already.
      if (submitted.duplicate) return 'duplicates';
      await record({ invocationId: submitted.id, result: 'queued' });
      return 'queued';
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const code = err instanceof StratusError ? err.code : undefined;
      this.deps.logger.warn('storage trigger fire could not be queued', { function: t.function, trigger: t.id, bucket: e.bucket, key: e.key, event: e.name, reason });
      await record({ invocationId: null, result: 'failed', reason });
      return code !== undefined && FUNCTION_FAULTS.has(code) ? 'failed' : 'unqueued';
    }
  }

  /** S3's sequencer for our own events: hex nanoseconds of the change, increasing within this process. */
  #sequencer(time: string): string {
    const ns = BigInt(Date.parse(time) || this.deps.clock.now()) * 1_000_000n;
    this.#lastSequence = ns > this.#lastSequence ? ns : this.#lastSequence + 1n;
    return this.#lastSequence.toString(16).toUpperCase().padStart(16, '0');
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p)).catch(() => {});
    return p;
  }

  protected async doClose(): Promise<void> {
    for (const off of this.#unsubscribe.splice(0)) off();
    // The fires under way finish (each is one queue write and one store write) before the queue closes.
    await Promise.allSettled([...this.#pending]);
  }
}

const empty = (): DispatchSummary => ({ matched: 0, queued: 0, duplicates: 0, failed: 0, unqueued: 0 });
const add = (a: DispatchSummary, b: DispatchSummary): DispatchSummary => ({
  matched: a.matched + b.matched, queued: a.queued + b.queued, duplicates: a.duplicates + b.duplicates, failed: a.failed + b.failed, unqueued: a.unqueued + b.unqueued,
});
