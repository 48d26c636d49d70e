// Every replica's in-memory view of all triggers, so that no event path (a cron tick, an object event, a
// function URL call) reads the store. Loaded once at start, then refreshed per function on the store's
// change notices (a trigger or key change is announced as a change of its function); a resync notice
// (null: notices may have been missed) reloads everything. Subscribers hear of each function whose
// triggers were reloaded, after the view is updated.

import { Closeable } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { Store } from '../../core/store/store.js';
import type { TriggerRecord, TriggerType } from '../../core/triggers.js';

type TriggerOf<T extends TriggerType> = Extract<TriggerRecord, { type: T }>;

export class TriggerIndex extends Closeable {
  readonly #byFunction = new Map<string, TriggerRecord[]>();
  readonly #listeners = new Set<(fn: string) => void>();
  /** Reloads of one function run one after another, so an older read never overwrites a newer one. */
  readonly #chains = new Map<string, Promise<void>>();
  #unwatch: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
  ) {
    super();
  }

  /** Loads every trigger (throwing when the store cannot answer) and starts following changes. */
  async start(): Promise<void> {
    this.#unwatch = this.store.watchFunctions((fn) => {
      if (fn === null) this.#reloadAll().catch((err: unknown) => this.logger.warn('could not reload triggers after a resync', { err }));
      else void this.reload(fn);
    });
    await this.#reloadAll();
  }

  /** The triggers of one type, every function's. */
  ofType<T extends TriggerType>(type: T): TriggerOf<T>[] {
    const all: TriggerOf<T>[] = [];
    for (const ts of this.#byFunction.values()) for (const t of ts) if (t.type === type) all.push(t as TriggerOf<T>);
    return all;
  }

  of(fn: string): readonly TriggerRecord[] {
    return this.#byFunction.get(fn) ?? [];
  }

  /** Calls `listener(fn)` after each reload of a function's triggers; returns an unsubscribe. */
  onChange(listener: (fn: string) => void): () => void {
    const entry = (fn: string) => listener(fn);
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }

  /** Re-reads one function's triggers (also what a change notice does). */
  reload(fn: string): Promise<void> {
    const next = (this.#chains.get(fn) ?? Promise.resolve()).then(() => this.#load(fn));
    this.#chains.set(fn, next);
    void next.finally(() => {
      if (this.#chains.get(fn) === next) this.#chains.delete(fn);
    });
    return next;
  }

  async #load(fn: string): Promise<void> {
    if (this.closed) return;
    try {
      const triggers = await this.store.listTriggers(fn);
      if (triggers.length === 0) this.#byFunction.delete(fn);
      else this.#byFunction.set(fn, triggers);
    } catch (err) {
      // The view keeps what it had; the store's next notice (or resync after a reconnect) loads it again.
      this.logger.warn('could not reload triggers', { function: fn, err });
      return;
    }
    this.#tell(fn);
  }

  async #reloadAll(): Promise<void> {
    const all = await this.store.listTriggers();
    const fns = new Set([...this.#byFunction.keys(), ...all.map((t) => t.function)]);
    this.#byFunction.clear();
    for (const t of all) {
      const list = this.#byFunction.get(t.function);
      if (list) list.push(t);
      else this.#byFunction.set(t.function, [t]);
    }
    for (const fn of fns) this.#tell(fn);
  }

  #tell(fn: string): void {
    for (const l of [...this.#listeners]) {
      try {
        l(fn);
      } catch (err) {
        this.logger.warn('trigger change listener failed', { function: fn, err });
      }
    }
  }

  protected async doClose(): Promise<void> {
    this.#unwatch?.();
    this.#listeners.clear();
    await Promise.allSettled([...this.#chains.values()]);
  }
}
