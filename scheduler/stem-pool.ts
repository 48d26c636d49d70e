// Stems: generic runtime containers started ahead of demand, one small pool per runtime. A cold start
// of a version with a code tree claims one and specializes it (POST /init) instead of creating a
// container, which is what makes scale-from-zero fast. The pool refills in the background once a
// claimed stem is specialized, and on every scheduler tick (so a failing start is retried at tick pace,
// not in a hot loop). A runtime nothing uses any more — no deployed version of it, no specialization — for
// `idleMs` has its stems stopped: a host that once ran a Python function keeps no Python containers for ever.

import { randomUUID } from 'node:crypto';
import { LIMITS } from '../core/function-config.js';
import { Closeable, type Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { Runtime } from '../core/types.js';
import type { Backend, InstanceHandle } from './backends/backend.js';

export interface StemPoolSettings {
  /** Stems kept ready per runtime; 0 turns stems off. */
  size: number;
  images: Record<Runtime, string>;
  startTimeoutMs: number;
  /** Memory of an unclaimed stem; a claim sets the function's own limit. */
  memoryMb?: number;
  /**
   * True while refills should wait: new containers are starting, and on a small host another
   * `docker run` beside them only slows the burst they serve. The scheduler calls fill() when it ends.
   */
  holdRefill?: () => boolean;
  /** How long a runtime stays unused before its stems are stopped (stopIdle); undefined: never. */
  idleMs?: number;
  clock: Clock;
  /** This replica's name (8 hex): in every stem's id, so the leader knows whose stems outlived their replica. */
  replica?: string;
}

export class StemPool extends Closeable {
  readonly #ready = new Map<Runtime, InstanceHandle[]>();
  readonly #starting = new Map<Runtime, number>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #aborts = new Set<AbortController>();
  /**
   * Runtimes in use, with when each was last seen in use: a runtime's stems start once a function of it is
   * deployed or called, so that a host that only runs Node functions keeps no idle Python containers (and an
   * empty platform none at all), and stop `idleMs` after it was last used.
   */
  readonly #wanted = new Map<Runtime, number>();

  constructor(
    private readonly backend: Backend,
    private readonly settings: StemPoolSettings,
    private readonly log: Logger,
  ) {
    super();
  }

  get enabled(): boolean {
    return this.settings.size > 0;
  }

  readyCount(runtime: Runtime): number {
    return this.#ready.get(runtime)?.length ?? 0;
  }

  runtimes(): Runtime[] {
    return Object.keys(this.settings.images) as Runtime[];
  }

  /** The memory limit every stem is created with: a claim whose function has the same limit skips the update. */
  get memoryMb(): number {
    return this.settings.memoryMb ?? LIMITS.memoryMb.default;
  }

  /**
   * A ready stem of this runtime, now owned by the caller, or null. It does not refill: the caller calls
   * fill() once its specialization is done, so the refill's `docker run` (a few hundred ms of CPU on
   * dockerd, runc and a starting Node) does not compete with the cold start it is making room for.
   */
  claim(runtime: Runtime): InstanceHandle | null {
    if (this.closed || !this.enabled) return null;
    return this.#ready.get(runtime)?.shift() ?? null;
  }

  /** Start stems until each runtime in use (or the given one, from now on in use) has `size` ready or starting. */
  fill(only?: Runtime): void {
    if (only) this.#wanted.set(only, this.settings.clock.now());
    if (this.closed || !this.enabled || this.settings.holdRefill?.()) return;
    for (const runtime of only ? [only] : this.#wanted.keys()) {
      const have = this.readyCount(runtime) + (this.#starting.get(runtime) ?? 0);
      for (let i = have; i < this.settings.size; i++) this.#startOne(runtime);
    }
  }

  /**
   * Stops the stems of each runtime unused for `idleMs`: `inUse` are the runtimes a deployed version has now
   * (their clock restarts), a specialization restarts it through fill(runtime). A later deploy or call of
   * that runtime fills it again. Returns the runtimes stopped.
   */
  stopIdle(inUse: ReadonlySet<Runtime>): Runtime[] {
    const idleMs = this.settings.idleMs;
    if (idleMs === undefined || this.closed) return [];
    const now = this.settings.clock.now();
    const stopped: Runtime[] = [];
    for (const [runtime, lastUsed] of this.#wanted) {
      if (inUse.has(runtime)) this.#wanted.set(runtime, now);
      else if (now - lastUsed >= idleMs) stopped.push(runtime);
    }
    for (const runtime of stopped) {
      this.#wanted.delete(runtime);
      const stems = this.#ready.get(runtime) ?? [];
      this.#ready.delete(runtime);
      if (stems.length > 0) this.log.info(`no ${runtime} function used for ${idleMs} ms: stopping its stems`, { runtime, stems: stems.length });
      for (const s of stems) this.#stop(s.instanceId); // one still starting is stopped when it is up (#startOne)
    }
    return stopped;
  }

  /** A stem exited on its own: forget it. Returns true if it was one of ours. */
  forget(instanceId: string): boolean {
    for (const list of this.#ready.values()) {
      const i = list.findIndex((s) => s.instanceId === instanceId);
      if (i >= 0) {
        list.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  #startOne(runtime: Runtime): void {
    this.#starting.set(runtime, (this.#starting.get(runtime) ?? 0) + 1);
    const abort = new AbortController();
    this.#aborts.add(abort);
    const timer = setTimeout(() => abort.abort(), this.settings.startTimeoutMs);
    const instanceId = this.settings.replica ? `stem-${runtime}-${this.settings.replica}-${randomUUID().slice(0, 8)}` : `stem-${runtime}-${randomUUID().slice(0, 12)}`;
    const p = this.backend
      .start(
        {
          instanceId,
          role: 'stem',
          runtime,
          function: null,
          version: null,
          image: this.settings.images[runtime],
          artifactDir: null,
          handler: null,
          concurrency: null, // set by /init, with the function
          memoryMb: this.memoryMb,
          // Uncapped and networked: a function that asks for a CPU cap gets it at specialization, and
          // one with network 'none' never starts from a stem (scheduler/instance-starter.ts).
          cpus: null,
          network: 'egress',
          env: {},
        },
        abort.signal,
      )
      .then(
        async (handle) => {
          // Closed, or its runtime went idle while it started: nobody will claim it.
          if (this.closed || !this.#wanted.has(runtime)) {
            await this.backend.stop(handle.instanceId).catch(() => {});
            return;
          }
          const list = this.#ready.get(runtime) ?? [];
          list.push(handle);
          this.#ready.set(runtime, list);
        },
        (err: unknown) => {
          if (!this.closed) this.log.warn('stem start failed; retrying on the next tick', { runtime, err });
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.#aborts.delete(abort);
        this.#starting.set(runtime, (this.#starting.get(runtime) ?? 1) - 1);
        this.#inFlight.delete(p);
      });
    this.#inFlight.add(p);
  }

  #stop(instanceId: string): void {
    const p = this.backend
      .stop(instanceId)
      .catch((err: unknown) => this.log.warn('stopping an idle stem failed', { instance: instanceId, err }))
      .finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  protected async doClose(): Promise<void> {
    for (const a of this.#aborts) a.abort();
    await Promise.allSettled([...this.#inFlight]);
    const stems = [...this.#ready.values()].flat();
    this.#ready.clear();
    await Promise.allSettled(stems.map((s) => this.backend.stop(s.instanceId)));
  }
}
