// The in-memory half of the TriggerStore (triggers.ts) that MemoryStore delegates to: triggers per
// function in creation order, their last fires, invoke keys and leases with an expiry.

import type { TriggerRecord } from '../triggers.js';
import { TRIGGER_FIRES_KEPT, type CreateResult, type InvokeKeyRecord, type TriggerFire, type TriggerStore } from './triggers.js';

const clone = <T>(v: T): T => structuredClone(v);
const byCreation = (a: TriggerRecord, b: TriggerRecord) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);

export class MemoryTriggers implements TriggerStore {
  readonly #triggers = new Map<string, Map<string, TriggerRecord>>();
  readonly #fires = new Map<string, TriggerFire[]>();
  readonly #keys = new Map<string, Map<string, InvokeKeyRecord>>();
  readonly #leases = new Map<string, number>();

  constructor(
    private readonly exists: (fn: string) => boolean,
    /** Announces a change of the function's triggers or keys; the write resolves after it (store.ts watchFunctions). */
    private readonly changed: (fn: string) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {}

  async createTrigger(t: TriggerRecord, limit: number): Promise<CreateResult> {
    if (!this.exists(t.function)) return 'no-function';
    let of = this.#triggers.get(t.function);
    if (!of) this.#triggers.set(t.function, (of = new Map()));
    if (of.has(t.id)) return 'exists';
    if (of.size >= limit) return 'full';
    of.set(t.id, clone(t));
    await this.changed(t.function);
    return 'created';
  }

  async putTrigger(t: TriggerRecord, limit: number): Promise<'created' | 'replaced' | 'no-function' | 'full'> {
    if (!this.exists(t.function)) return 'no-function';
    let of = this.#triggers.get(t.function);
    if (!of) this.#triggers.set(t.function, (of = new Map()));
    const replacing = of.has(t.id);
    if (!replacing && of.size >= limit) return 'full';
    if (replacing) this.#fires.delete(t.id);
    of.set(t.id, clone(t));
    await this.changed(t.function);
    return replacing ? 'replaced' : 'created';
  }

  async replaceTriggers(fn: string, triggers: TriggerRecord[]): Promise<boolean> {
    if (!this.exists(fn)) return false;
    for (const id of this.#triggers.get(fn)?.keys() ?? []) if (!triggers.some((t) => t.id === id)) this.#fires.delete(id);
    this.#triggers.set(fn, new Map(triggers.map((t) => [t.id, clone(t)])));
    await this.changed(fn);
    return true;
  }

  async deleteTrigger(fn: string, id: string): Promise<boolean> {
    const existed = this.#triggers.get(fn)?.delete(id) ?? false;
    this.#fires.delete(id);
    if (existed) await this.changed(fn);
    return existed;
  }

  async listTriggers(fn?: string): Promise<TriggerRecord[]> {
    const fns = fn === undefined ? [...this.#triggers.keys()].sort() : [fn];
    return fns.flatMap((f) => [...(this.#triggers.get(f)?.values() ?? [])].sort(byCreation).map(clone));
  }

  async recordTriggerFire(triggerId: string, fire: TriggerFire): Promise<void> {
    const kept = [clone(fire), ...(this.#fires.get(triggerId) ?? [])].slice(0, TRIGGER_FIRES_KEPT);
    this.#fires.set(triggerId, kept);
  }

  async listTriggerFires(triggerId: string): Promise<TriggerFire[]> {
    return (this.#fires.get(triggerId) ?? []).map(clone);
  }

  async claimLease(key: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const until = this.#leases.get(key);
    if (until !== undefined && until > now) return false;
    // Expired leases are dropped as new ones come, so the map stays as small as the live leases.
    for (const [k, u] of this.#leases) if (u <= now) this.#leases.delete(k);
    this.#leases.set(key, now + ttlMs);
    return true;
  }

  async putInvokeKey(k: InvokeKeyRecord, limit: number): Promise<Exclude<CreateResult, 'exists'>> {
    if (!this.exists(k.function)) return 'no-function';
    let of = this.#keys.get(k.function);
    if (!of) this.#keys.set(k.function, (of = new Map()));
    if (of.size >= limit) return 'full';
    of.set(k.id, clone(k));
    await this.changed(k.function);
    return 'created';
  }

  async listInvokeKeys(fn: string): Promise<InvokeKeyRecord[]> {
    return [...(this.#keys.get(fn)?.values() ?? [])].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id)).map(clone);
  }

  async deleteInvokeKey(fn: string, id: string): Promise<boolean> {
    const existed = this.#keys.get(fn)?.delete(id) ?? false;
    if (existed) await this.changed(fn);
    return existed;
  }

  /** Part of deleting the function: its triggers, their fires and its keys go with it. */
  forget(fn: string): void {
    for (const id of this.#triggers.get(fn)?.keys() ?? []) this.#fires.delete(id);
    this.#triggers.delete(fn);
    this.#keys.delete(fn);
  }
}
