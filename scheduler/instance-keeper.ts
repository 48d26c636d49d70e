// What the pools ask of the scheduler (PoolHost), kept apart from the Scheduler's public face: start an
// instance (bounded by the start timeout, counted in the cold-start metrics), stop one, check or recycle
// one after a troubled request, and the dispatch metric. It remembers the starts and stops under way so
// that close() can abort and wait for them. PoolScheduler holds it privately and hands it to its pools:
// no caller of the Scheduler can start, stop or mark an instance, or flip the closing flag.

import { StratusError } from '../core/errors.js';
import type { Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { DeployedVersion } from '../core/types.js';
import type { InstanceExit } from './backends/backend.js';
import type { ColdStart, InstanceStarter } from './instance-starter.js';
import type { Instance } from './instance.js';
import { isHealthy } from './runtime-client.js';
import type { InstanceRouter } from './instance-router.js';
import type { LeaseOutcome } from './scheduler.js';
import type { SchedulerDeps } from './scheduler-deps.js';
import { recordOf, StartNotNeeded, type InstanceDirectory, type SharedInstance } from './shared/directory.js';
import type { PoolHost, StartOptions, StopCause, VersionPool } from './version-pool.js';

const DIAGNOSE_SETTLE_MS = 1000;
const DIAGNOSE_POLL_MS = 25;

const noop = (): void => {};


/** A drained instance the leader stops once no replica may still call it. */
export interface PendingStop {
  function: string;
  version: number;
  markedAt: number;
}

export class InstanceKeeper implements PoolHost {
  readonly clock: Clock;
  readonly queueDepth: number;
  readonly queueTimeoutMs: number;
  #closing = false;
  readonly #starts = new Set<Promise<unknown>>();
  readonly #aborts = new Set<AbortController>();
  readonly #stops = new Set<Promise<void>>();

  /** True while this replica holds the leader's lease (always, when the directory is not shared). */
  leads = true;
  /** The native proxy ready instances are given to (PoolScheduler.attachRouter); null: calls go through leases only. */
  router: InstanceRouter | null = null;
  /**
   * Instances the leader decided to stop (scale-down, retire): drained here, told draining to the others,
   * stopped once no replica may still have a call on them (see PoolScheduler's tick). id -> when marked.
   */
  readonly pendingStops = new Map<string, PendingStop>();

  constructor(
    private readonly deps: Pick<SchedulerDeps, 'backend' | 'clock' | 'settings' | 'metrics'>,
    private readonly starter: InstanceStarter,
    private readonly log: Logger,
    readonly directory: InstanceDirectory,
  ) {
    this.clock = deps.clock;
    this.queueDepth = deps.settings.queueDepth;
    this.queueTimeoutMs = deps.settings.queueTimeoutMs;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /**
   * One start, reserved platform-wide first (a load check's start is not: its version serves nobody yet),
   * and published once ready so every replica routes to it. Rejects with StartNotNeeded when the platform
   * already has `opts.want` instances of the version ready or starting.
   */
  async start(target: DeployedVersion, opts: StartOptions = {}): Promise<ColdStart> {
    const dir = this.directory;
    const { function: fn, version } = target;
    let ticket: string | null = null;
    if (!opts.probe) {
      const want = Math.min(opts.want ?? target.config.maxInstances, target.config.maxInstances);
      ticket = await dir.reserveStart(fn, version, want, target.config.maxInstances, this.deps.settings.startTimeoutMs + 5000);
      if (ticket === null) throw new StartNotNeeded();
    }
    let cs: ColdStart;
    try {
      cs = await this.#startReserved(target, opts);
    } catch (err) {
      if (ticket) await dir.cancelStart(fn, version, ticket).catch((e: unknown) => this.log.warn('could not give a start reservation back; it expires on its own', { err: e }));
      throw err;
    }
    if (dir.shared) {
      const inst = cs.instance;
      await dir
        .publish(recordOf(inst, fn, version, dir.replica), ticket)
        .catch((err: unknown) => this.log.error('could not tell the other replicas of a new instance; only this one routes to it', { instance: inst.id, err }));
    }
    return cs;
  }

  #startReserved(target: DeployedVersion, opts: StartOptions): Promise<ColdStart> {
    const abort = new AbortController();
    this.#aborts.add(abort);
    const { startTimeoutMs } = this.deps.settings;
    const timer = setTimeout(() => abort.abort(new StratusError('INSTANCE_START_FAILED', `an instance of ${target.function} did not become ready within ${startTimeoutMs} ms`)), startTimeoutMs);
    const { signal } = opts;
    const giveUp = () => abort.abort(signal?.reason);
    if (signal?.aborted) giveUp();
    else signal?.addEventListener('abort', giveUp, { once: true });
    const p = this.starter.start(target, abort.signal, opts).then(
      (cs) => {
        this.deps.metrics?.coldStarts.inc({ function: target.function, kind: cs.kind });
        for (const [phase, ms] of Object.entries(cs.phases)) this.deps.metrics?.coldStartPhaseSeconds.observe({ kind: cs.kind, phase }, ms / 1000);
        this.log.debug('instance started', { instance: cs.instance.id, function: target.function, version: target.version, kind: cs.kind, phases: cs.phases });
        return cs;
      },
      (err: unknown) => {
        // A load check's failure is the build's: its log has the runtime's words.
        if (!this.#closing) this.log[opts.probe ? 'info' : 'error'](opts.probe ? 'load check start failed' : 'instance start failed', { function: target.function, version: target.version, err });
        throw err;
      },
    );
    const done = p.finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', giveUp);
      this.#aborts.delete(abort);
    });
    const settled = done.then(noop, noop);
    this.#starts.add(settled);
    void settled.then(() => this.#starts.delete(settled));
    return done;
  }

  /**
   * An instance left its pool. Broken (exited, crashed, unhealthy) it goes at once, for every replica. Let
   * go by policy (scale-down, retire, idle) on a shared platform, only the leader stops it — after the
   * others have let go of it too; any other replica just forgets it.
   */
  stop(inst: Instance, cause: StopCause = 'policy'): void {
    inst.state = 'stopping';
    inst.dispose();
    const dir = this.directory;
    if (!dir.shared || cause === 'broken' || this.#closing) {
      if (dir.shared) this.#unpublish(inst);
      this.stopById(inst.id);
      return;
    }
    if (!this.leads) return;
    const h = inst.handle;
    if (h.function !== null && h.version !== null) this.pendingStops.set(inst.id, { function: h.function, version: h.version, markedAt: this.clock.now() });
    this.draining(inst);
  }

  /** Tell the other replicas to send it no new calls. */
  draining(inst: Instance): void {
    const h = inst.handle;
    if (this.directory.shared && h.function !== null && h.version !== null) this.#tellDraining(h.function, h.version, inst.id);
  }

  #tellDraining(fn: string, version: number, id: string): void {
    void this.directory.drain(fn, version, id).catch((err: unknown) => this.log.warn('could not tell the other replicas an instance is draining', { instance: id, err }));
  }

  /** The leader's stop of a published instance whose version is gone: drained first, like any other it lets go of. */
  drainGone(rec: SharedInstance): void {
    if (this.pendingStops.has(rec.id)) return;
    this.pendingStops.set(rec.id, { function: rec.function, version: rec.version, markedAt: this.clock.now() });
    this.#tellDraining(rec.function, rec.version, rec.id);
  }

  /** Stop now every drained instance waiting for the others (this replica is the last one). */
  finishAllStops(): void {
    for (const id of [...this.pendingStops.keys()]) this.finishStop(id);
  }

  /** The leader's stop of a drained instance no replica calls any more. */
  finishStop(id: string): void {
    const pending = this.pendingStops.get(id);
    if (!pending) return;
    this.pendingStops.delete(id);
    this.unpublish(pending.function, pending.version, id);
    this.stopById(id);
  }

  #unpublish(inst: Instance): void {
    const h = inst.handle;
    if (h.function !== null && h.version !== null) this.unpublish(h.function, h.version, inst.id);
  }

  unpublish(fn: string, version: number, id: string): void {
    void this.directory.remove(fn, version, id).catch((err: unknown) => this.log.warn('could not tell the other replicas an instance is gone', { instance: id, err }));
  }

  /** Stops a backend instance no pool holds (an exited stem, a leftover of an earlier run); close() waits for it. */
  stopById(instanceId: string): void {
    const t = this.deps.backend
      .stop(instanceId)
      .catch((err: unknown) => this.log.warn('stopping an instance failed', { err }))
      .finally(() => this.#stops.delete(t));
    this.#stops.add(t);
  }

  troubled(pool: VersionPool, inst: Instance, outcome: LeaseOutcome): void {
    if (outcome === 'timeout') {
      void isHealthy(inst.requestOptions, this.deps.settings.healthTimeoutMs ?? 2000).then((ok) => {
        if (ok || inst.state === 'stopping') return;
        this.log.warn('instance did not answer its health check after a timed-out request; replacing it', { instance: inst.id, function: pool.target.function });
        pool.remove(inst, 'broken');
      });
      return;
    }
    // Crashed: take no new requests on it (nor through the proxy); learn why for the log, then replace it.
    pool.stopTaking(inst);
    void this.deps.backend
      .diagnose(inst.id)
      .catch(() => null)
      .then((exit) => {
        this.log.warn('instance failed a request; removing it', { instance: inst.id, function: pool.target.function, exit });
        pool.remove(inst, 'broken'); // a request's crash is its caller's 502, not a crash loop: no backoff
      });
  }

  /**
   * Why a request on this instance failed. A reset connection usually comes a moment before the
   * backend sees the instance gone (an OOM kill is only recorded once the container has exited), so a
   * live-looking instance is asked again for up to DIAGNOSE_SETTLE_MS before calling it alive.
   */
  async diagnose(inst: Instance): Promise<{ reason: InstanceExit['reason']; exitCode: number | null } | null> {
    for (let waited = 0; ; waited += DIAGNOSE_POLL_MS) {
      const exit = await this.deps.backend.diagnose(inst.id);
      if (exit) return { reason: exit.reason, exitCode: exit.exitCode };
      if (waited >= DIAGNOSE_SETTLE_MS) return null;
      await new Promise((resolve) => setTimeout(resolve, DIAGNOSE_POLL_MS));
    }
  }

  dispatched(pool: VersionPool, waitedMs: number): void {
    this.deps.metrics?.dispatchSeconds.observe({ function: pool.target.function }, waitedMs / 1000);
  }

  /** close(), first step: from here on pools start nothing and stop what finishes starting. */
  beginClose(): void {
    this.#closing = true;
  }

  /** close(): abort the starts under way and wait until each has settled. */
  async abortStarts(reason: unknown): Promise<void> {
    for (const a of this.#aborts) a.abort(reason);
    await Promise.allSettled([...this.#starts]);
  }

  /** Resolves once every stop asked for so far (and those they lead to) has finished. */
  async stopsSettled(): Promise<void> {
    while (this.#stops.size > 0) await Promise.allSettled([...this.#stops]);
  }
}
