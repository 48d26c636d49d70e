// The served-versions reconciler: keeps this replica's instances in step with what each function's aliases
// serve. It follows the store (the function change notices, and a full re-read on a resync) like any other
// view, so whoever moves an alias — a rollout, PUT …/aliases, a rollback, another replica — writes the
// store and nothing else. Per function it compares the versions served now (core/aliases.ts
// aliasedVersions: latest and every named alias, both sides of a canary) with those served at its last look:
//   - a version newly served is prewarmed once it is ready (its minimum instances start, its runtime's stems
//     are kept ready); at start every served version is new, so this is also the start-up prewarm;
//   - when versions stop being served, they are retired after rollbackWarmMs, keeping what is served at
//     that time (an alias may have moved back meanwhile), so that a rollback lands on warm instances;
//   - a deleted function's instances all go, then its metric series (after the retire, which could still
//     count one; deleted by this replica or another).
//
// Where it acts: this replica's Scheduler and metrics registry. Every replica runs one today, each for its
// own pools. When issue 19 elects one controller, what to warm may become the leader's decision, but
// retiring this replica's instances of a deleted function and dropping this replica's metric series stay
// per replica: they must then run on every replica, leader or not.

import { aliasedVersions } from '../../core/aliases.js';
import { KeyedTurns } from '../../core/keyed-turns.js';
import { Closeable } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { Store } from '../../core/store/store.js';
import { toDeployed } from '../../core/versions.js';
import type { Scheduler } from '../../scheduler/scheduler.js';

export interface ServedVersionsDeps {
  store: Store;
  scheduler: Pick<Scheduler, 'prewarm' | 'retire'>;
  logger: Logger;
  /** How long the instances of a version no alias serves any more are kept (warm for a rollback); 0: retired at once. */
  rollbackWarmMs: number;
  /** Drops a deleted function's metric series on this replica (core/platform-metrics.ts forgetFunction). */
  forgetMetrics?: (fn: string) => void;
}

export class ServedVersions extends Closeable {
  /** Versions each function's aliases served at the last look: what the next change leaves behind. */
  readonly #served = new Map<string, ReadonlySet<number>>();
  /** Per function, the pending retirement of versions no alias serves any more. */
  readonly #retireTimers = new Map<string, NodeJS.Timeout>();
  /** The work on one function runs one step after another, so an older read never acts after a newer one. */
  readonly #turns = new KeyedTurns();
  readonly #background = new Set<Promise<void>>();
  #unwatch: (() => void) | undefined;

  constructor(private readonly deps: ServedVersionsDeps) {
    super();
  }

  /**
   * Starts following the store, then looks at every function once (prewarming what each serves). Throws
   * when the store cannot answer, as a start should.
   */
  async start(): Promise<void> {
    // What the store's write waits for (read-your-writes): this replica has prewarmed or retired by then.
    this.#unwatch = this.deps.store.watchFunctions((name) => (name === null ? this.#resync() : this.#follow(name)));
    const fns = await this.deps.store.listFunctions();
    await Promise.all(fns.map((fn) => this.#follow(fn.name)));
  }

  /** The versions some alias of `name` served at the last look (undefined: none known). */
  served(name: string): ReadonlySet<number> | undefined {
    return this.#served.get(name);
  }

  /** Notices may have been missed: look again at every function known or stored (one may have been made meanwhile). */
  async #resync(): Promise<void> {
    try {
      const stored = (await this.deps.store.listFunctions()).map((fn) => fn.name);
      await Promise.all([...new Set([...this.#served.keys(), ...stored])].map((n) => this.#follow(n)));
    } catch (err) {
      this.deps.logger.warn('served versions: resync failed', { err });
    }
  }

  #follow(name: string): Promise<void> {
    return this.#step(name, () => this.#look(name)).catch((err: unknown) => this.deps.logger.warn('served versions: could not follow a change', { function: name, err }));
  }

  #step(name: string, work: () => Promise<void>): Promise<void> {
    return this.#turns.take(name, () => (this.closed ? Promise.resolve() : work()));
  }


  async #look(name: string): Promise<void> {
    const fn = await this.deps.store.getFunction(name);
    if (!fn) return this.#deleted(name);
    const served = aliasedVersions(fn);
    const before = this.#served.get(name) ?? new Set<number>();
    this.#served.set(name, served);
    const fresh = [...served].filter((n) => !before.has(n));
    const records = await Promise.all(fresh.map((n) => this.deps.store.getVersion(name, n)));
    for (const v of records) if (v?.status === 'ready') this.#inBackground('prewarm', name, () => this.deps.scheduler.prewarm(toDeployed(v)));
    if ([...before].some((n) => !served.has(n))) this.#retireLater(name);
  }

  /** Retires, after the grace, the versions not served then; a newer change restarts the grace. */
  #retireLater(name: string): void {
    clearTimeout(this.#retireTimers.get(name));
    this.#retireTimers.delete(name);
    if (this.deps.rollbackWarmMs === 0) return this.#retireUnserved(name);
    const timer = setTimeout(() => {
      this.#retireTimers.delete(name);
      this.#step(name, async () => this.#retireUnserved(name)).catch(() => {});
    }, this.deps.rollbackWarmMs);
    timer.unref();
    this.#retireTimers.set(name, timer);
  }

  #retireUnserved(name: string): void {
    // What is served at this time, not when the alias moved: it may have moved back meanwhile.
    const keep = this.#served.get(name);
    if (keep) this.#inBackground('retire', name, () => this.deps.scheduler.retire(name, keep));
  }

  async #deleted(name: string): Promise<void> {
    this.#served.delete(name);
    clearTimeout(this.#retireTimers.get(name));
    this.#retireTimers.delete(name);
    // Also when this replica never looked at it: a function deleted on another replica, or one whose
    // only instances here were started by a call to /fn/NAME@vN.
    await this.deps.scheduler.retire(name).catch((err: unknown) => this.deps.logger.warn('retire failed', { function: name, err }));
    this.deps.forgetMetrics?.(name);
  }

  #inBackground(what: string, name: string, task: () => Promise<void>): void {
    const p = task()
      .catch((err: unknown) => this.deps.logger.warn(`${what} failed`, { function: name, err }))
      .finally(() => this.#background.delete(p));
    this.#background.add(p);
  }

  protected async doClose(): Promise<void> {
    this.#unwatch?.();
    for (const t of this.#retireTimers.values()) clearTimeout(t);
    this.#retireTimers.clear();
    await this.#turns.settled();
    await Promise.allSettled([...this.#background]);
  }
}
