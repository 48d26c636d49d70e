// The part of the Store seam that holds triggers, their last fires, invoke keys and the leases that make a
// cron tick fire once across replicas. Both stores implement it the same way (test/unit/store-contract.test.ts).
// Every change of a function's triggers or keys is announced like a change of the function itself
// (watchFunctions), so each replica's in-memory view — the route table's http settings, the cron schedule,
// the storage filters — is refreshed without a store read on any invocation path.

import type { TriggerRecord } from '../triggers.js';

/** One fire of a cron or storage trigger: when, and the async invocation it queued (or why none). */
export interface TriggerFire {
  /** ISO time of the tick (cron) or of the object event (storage). */
  at: string;
  /** ISO time the fire was handled. */
  firedAt: string;
  /** The async invocation queued for it; null when the fire queued nothing. */
  invocationId: string | null;
  /**
   * queued: an invocation was queued; skipped: nothing to do (overlap "skip" and the last fire still runs,
   * or the function has no ready version yet); failed: it could not be queued (reason says why).
   */
  result: 'queued' | 'skipped' | 'failed';
  /** Why it was skipped or failed, in words. */
  reason?: string;
  /** Storage: the object key the event was about. */
  key?: string;
}

/** Fires kept per trigger (newest first). */
export const TRIGGER_FIRES_KEPT = 20;

/** An invoke key of a function URL with auth "key". The key itself is shown once and never stored. */
export interface InvokeKeyRecord {
  id: string;
  function: string;
  /** SHA-256 (hex) of the key: what a call's x-stratus-key is checked against. */
  sha256: string;
  /** The key's first characters, to tell keys apart in a listing. */
  prefix: string;
  /** An optional note from whoever asked for the key ("ci", "partner-x"). */
  name: string | null;
  createdAt: string;
}

export type CreateResult = 'created' | 'no-function' | 'exists' | 'full';

export interface TriggerStore {
  /**
   * Adds a trigger to an existing function that has fewer than `limit`, atomically with both checks;
   * 'exists' when its id is taken, 'full' at the limit.
   */
  createTrigger(t: TriggerRecord, limit: number): Promise<CreateResult>;
  /**
   * Sets one trigger, replacing the one with its id if there is one (its fires go), adding it otherwise
   * (then within `limit`), atomically with both checks: how a function URL's http settings change without a
   * moment in which the URL has none, and without touching the function's other triggers.
   */
  putTrigger(t: TriggerRecord, limit: number): Promise<Exclude<CreateResult, 'exists'> | 'replaced'>;
  /** Replaces all of a function's triggers in one step (a deploy config's `triggers` list). False if the function is gone. */
  replaceTriggers(fn: string, triggers: TriggerRecord[]): Promise<boolean>;
  /** Removes one trigger and its fires; false if there was none. */
  deleteTrigger(fn: string, id: string): Promise<boolean>;
  /** A function's triggers, or every function's when `fn` is not given; ordered by function, then creation. */
  listTriggers(fn?: string): Promise<TriggerRecord[]>;

  /** Keeps a fire, the newest TRIGGER_FIRES_KEPT per trigger. */
  recordTriggerFire(triggerId: string, fire: TriggerFire): Promise<void>;
  /** A trigger's kept fires, newest first. */
  listTriggerFires(triggerId: string): Promise<TriggerFire[]>;

  /**
   * Takes the lease `key` for `ttlMs` if nobody holds it; true for exactly one caller among all replicas
   * until it expires. A lease is never released early: a cron tick's lease must outlive the tick.
   */
  claimLease(key: string, ttlMs: number): Promise<boolean>;

  /** Adds an invoke key to an existing function that has fewer than `limit` (checked in the same step). */
  putInvokeKey(k: InvokeKeyRecord, limit: number): Promise<Exclude<CreateResult, 'exists'>>;
  listInvokeKeys(fn: string): Promise<InvokeKeyRecord[]>;
  deleteInvokeKey(fn: string, id: string): Promise<boolean>;
}
