// The Scheduler: one VersionPool per function version, a stem pool per runtime, an autoscaler tick, the
// reaper (backend exits, timed-out and crashed instances) and reconciliation with what an earlier run
// left behind. Pools do the dispatch arithmetic; this class owns I/O, lifecycle and metrics.

import { StratusError } from '../core/errors.js';
import { Closeable, type Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { DeployedVersion, Runtime } from '../core/types.js';
import type { InstanceExit } from './backends/backend.js';
import { InstanceStarter, type ColdStart } from './instance-starter.js';
import { Instance } from './instance.js';
import { isHealthy } from './runtime-client.js';
import type { AcquireOptions, FailingView, InstanceView, Lease, LeaseOutcome, Scheduler } from './scheduler.js';
import type { SchedulerDeps } from './scheduler-deps.js';
import { StemPool } from './stem-pool.js';
import { VersionPool, type PoolHost } from './version-pool.js';


const DIAGNOSE_SETTLE_MS = 1000;
const DIAGNOSE_POLL_MS = 25;
export type { SchedulerDeps, SchedulerMetrics, SchedulerSettings } from './scheduler-deps.js';

const noop = (): void => {};

export class PoolScheduler extends Closeable implements Scheduler, PoolHost {
  readonly clock: Clock;
  readonly queueDepth: number;
  readonly queueTimeoutMs: number;
  closing = false;
  readonly stems: StemPool;
  readonly #pools = new Map<string, VersionPool>();
  /** Pools of replaced or deleted versions, kept until their last instance has drained. */
  readonly #retiring = new Set<VersionPool>();
  readonly #starter: InstanceStarter;
  readonly #starts = new Set<Promise<unknown>>();
  readonly #aborts = new Set<AbortController>();
  readonly #stops = new Set<Promise<void>>();
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #unsubscribe: () => void;
  /** Deployed versions that can start from a stem (function -> version -> runtime): their runtimes keep stems. */
  readonly #deployed = new Map<string, Map<number, Runtime>>();

  constructor(private readonly deps: SchedulerDeps) {
    super();
    const s = deps.settings;
    this.clock = deps.clock;
    this.queueDepth = s.queueDepth;
    this.queueTimeoutMs = s.queueTimeoutMs;
    this.#log = deps.logger.child({ component: 'scheduler' });
    const holdRefill = () => this.#starter.containerStarts > 0;
    this.stems = new StemPool(deps.backend, { size: s.stemPoolSize, images: s.runtimeImages, startTimeoutMs: s.startTimeoutMs, holdRefill, idleMs: s.stemIdleMs, clock: deps.clock }, this.#log);
    this.#starter = new InstanceStarter(deps.backend, this.stems, deps.clock, s.startTimeoutMs, this.#log);
    this.#unsubscribe = deps.backend.onExit((exit) => this.#onExit(exit));
    deps.registry?.collect(() => this.#collectGauges());
    if (deps.autoTick !== false) {
      this.#timer = setInterval(() => this.tick(), s.tickMs);
      this.#timer.unref();
    }
  }

  async acquire(target: DeployedVersion, opts: AcquireOptions): Promise<Lease> {
    if (this.closing) throw new StratusError('SHUTTING_DOWN', 'Stratus is shutting down; retry against another replica or after the restart', { retryAfterSeconds: 5 });
    return this.tryAcquire(target) ?? this.#pool(target).enqueue(opts);
  }

  tryAcquire(target: DeployedVersion): Lease | null {
    if (this.closing) return null; // acquire() answers SHUTTING_DOWN
    const pool = this.#pool(target);
    pool.lastRequestAt = this.clock.now();
    const lease = pool.tryAcquire();
    if (lease) this.deps.metrics?.dispatchSeconds.observe({ function: target.function }, 0);
    return lease;
  }

  async prewarm(target: DeployedVersion): Promise<void> {
    if (this.closing) return;
    // A deployed version's runtime is in use: keep its stems ready for the first call, until it is retired.
    if (target.artifactDir && target.config.runtime) {
      let versions = this.#deployed.get(target.function);
      if (!versions) this.#deployed.set(target.function, (versions = new Map()));
      versions.set(target.version, target.config.runtime);
      this.stems.fill(target.config.runtime);
    }
    this.#pool(target).ensureMin();
  }

  async retire(functionName: string, keep?: number | ReadonlySet<number>): Promise<void> {
    const kept = (v: number) => (typeof keep === 'number' ? v === keep : keep?.has(v) ?? false);
    const deployed = this.#deployed.get(functionName);
    for (const v of deployed?.keys() ?? []) if (!kept(v)) deployed!.delete(v);
    if (deployed?.size === 0) this.#deployed.delete(functionName);
    for (const [key, pool] of this.#pools) {
      if (pool.target.function !== functionName || kept(pool.target.version)) continue;
      this.#pools.delete(key);
      this.#retiring.add(pool);
      pool.retire();
    }
  }

  failing(functionName: string): FailingView | null {
    let view: FailingView | null = null;
    for (const pool of this.#pools.values()) {
      const s = pool.target.function === functionName ? pool.backoff.state() : null;
      if (!s || (view && view.version > pool.target.version)) continue;
      const iso = (ms: number) => new Date(ms).toISOString();
      view = { version: pool.target.version, failures: s.failures, lastError: s.lastError, lastOutput: s.lastOutput, lastFailureAt: iso(s.lastFailureAt), nextTryAt: iso(s.nextTryAt) };
    }
    return view;
  }

  instances(functionName: string): InstanceView[] {
    const out: InstanceView[] = [];
    for (const pool of this.#allPools()) if (pool.target.function === functionName) for (const i of pool.instances) out.push(i.view());
    return out;
  }

  /**
   * Adopts or removes the instances an earlier run left behind (found by the backend's labels). One goes
   * only on positive evidence: a stem (generic and cheap to recreate; a specialized one is listed as its
   * function's), or an instance of a version other than the one the store names current. A function
   * the store names no current version for counts as deleted only when `storeRemembers`: the store
   * outlived the earlier run and holds its functions. A fresh in-memory store or an emptied Redis knows
   * nothing, and its silence must not stop running functions: theirs are left running, unserved, and named
   * in a warning (a later start with the store back adopts or removes them).
   */
  async reconcile(opts: { storeRemembers?: boolean } = {}): Promise<void> {
    const found = await this.deps.backend.list();
    const known = new Set<string>();
    for (const pool of this.#allPools()) for (const i of pool.instances) known.add(i.id);
    const current = new Map<string, number | null>();
    const unvouched: string[] = [];
    for (const h of found) {
      if (known.has(h.instanceId)) continue;
      let adopted = false;
      if (h.role === 'function' && h.function !== null && h.version !== null) {
        if (!current.has(h.function)) current.set(h.function, await this.deps.currentVersion(h.function));
        const cur = current.get(h.function) ?? null;
        if (cur === null && opts.storeRemembers !== true) {
          unvouched.push(`${h.instanceId} (${h.function} v${h.version})`);
          continue;
        }
        const v = cur === h.version ? await this.deps.lookupVersion(h.function, h.version) : null;
        if (v && !this.closing) {
          const pool = this.#pool(v);
          pool.instances.push(new Instance(h, v.config.concurrency, 'container'));
          adopted = true;
        }
      }
      this.#log.info(adopted ? 'adopted an instance left by an earlier run' : 'removing an instance left by an earlier run', { instance: h.instanceId, role: h.role, function: h.function, version: h.version });
      if (!adopted) this.#track(this.deps.backend.stop(h.instanceId));
    }
    if (unvouched.length > 0) {
      this.#log.warn(
        `left ${unvouched.length} instance(s) of an earlier run running: the store knows none of their functions, and it ` +
          'does not remember earlier runs (in-memory, or empty), so that is no proof they were deleted. They serve nothing ' +
          'until the store has their functions back; remove them by hand if they are gone for good',
        { instances: unvouched },
      );
    }
    await Promise.allSettled([...this.#stops]);
  }

  /** One autoscaler step for every pool, then stem refill. Runs every tickMs; tests call it directly. */
  tick(): void {
    if (this.closing) return;
    const now = this.clock.now();
    for (const [key, pool] of this.#pools) {
      try {
        pool.scale(now);
      } catch (err) {
        this.#log.error('autoscaler step failed', { pool: key, err });
      }
      if (pool.empty) this.#pools.delete(key);
    }
    for (const pool of this.#retiring) {
      pool.expire(now);
      if (pool.empty) this.#retiring.delete(pool);
    }
    const inUse = new Set<Runtime>();
    for (const versions of this.#deployed.values()) for (const runtime of versions.values()) inUse.add(runtime);
    this.stems.stopIdle(inUse);
    this.stems.fill();
  }

  // ---- PoolHost: what pools ask of the scheduler ----

  start(target: DeployedVersion, opts: { avoidStems?: boolean } = {}): Promise<ColdStart> {
    const abort = new AbortController();
    this.#aborts.add(abort);
    const timer = setTimeout(() => abort.abort(new StratusError('INSTANCE_START_FAILED', `an instance of ${target.function} did not become ready within ${this.deps.settings.startTimeoutMs} ms`)), this.deps.settings.startTimeoutMs);
    const p = this.#starter.start(target, abort.signal, opts).then(
      (cs) => {
        this.deps.metrics?.coldStarts.inc({ function: target.function, kind: cs.kind });
        for (const [phase, ms] of Object.entries(cs.phases)) this.deps.metrics?.coldStartPhaseSeconds.observe({ kind: cs.kind, phase }, ms / 1000);
        this.#log.debug('instance started', { instance: cs.instance.id, function: target.function, version: target.version, kind: cs.kind, phases: cs.phases });
        return cs;
      },
      (err: unknown) => {
        if (!this.closing) this.#log.error('instance start failed', { function: target.function, version: target.version, err });
        throw err;
      },
    );
    const done = p.finally(() => {
      clearTimeout(timer);
      this.#aborts.delete(abort);
    });
    const settled = done.then(noop, noop);
    this.#starts.add(settled);
    void settled.then(() => this.#starts.delete(settled));
    return done;
  }

  stop(inst: Instance): void {
    inst.state = 'stopping';
    inst.dispose();
    this.#track(this.deps.backend.stop(inst.id));
  }

  troubled(pool: VersionPool, inst: Instance, outcome: LeaseOutcome): void {
    if (outcome === 'timeout') {
      void isHealthy(inst.requestOptions, this.deps.settings.healthTimeoutMs ?? 2000).then((ok) => {
        if (ok || inst.state === 'stopping') return;
        this.#log.warn('instance did not answer its health check after a timed-out request; replacing it', { instance: inst.id, function: pool.target.function });
        pool.remove(inst);
      });
      return;
    }
    // Crashed: take no new requests on it; learn why for the log, then replace it.
    if (inst.state === 'ready') inst.state = 'draining';
    void this.deps.backend
      .diagnose(inst.id)
      .catch(() => null)
      .then((exit) => {
        this.#log.warn('instance failed a request; removing it', { instance: inst.id, function: pool.target.function, exit });
        pool.remove(inst); // a request's crash is its caller's 502, not a crash loop: no backoff
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

  // ---- internals ----

  #pool(target: DeployedVersion): VersionPool {
    const key = `${target.function}@${target.version}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      const s = this.deps.settings;
      const autoscaler = this.deps.newAutoscaler({ stableWindowMs: s.stableWindowMs, panicWindowMs: s.panicWindowMs, targetUtilization: s.targetUtilization });
      pool = new VersionPool(target, autoscaler, this);
      this.#pools.set(key, pool);
    }
    return pool;
  }

  *#allPools(): Iterable<VersionPool> {
    yield* this.#pools.values();
    yield* this.#retiring;
  }

  #onExit(exit: InstanceExit): void {
    if (this.closing) return;
    if (this.stems.forget(exit.instanceId)) {
      this.#log.warn('a stem exited; the pool refills on the next tick', { instance: exit.instanceId, reason: exit.reason });
      this.#track(this.deps.backend.stop(exit.instanceId));
      return;
    }
    for (const pool of this.#allPools()) {
      const inst = pool.instances.find((i) => i.id === exit.instanceId);
      if (!inst) continue;
      this.#log.warn('instance exited; removing it from its pool', { instance: inst.id, function: pool.target.function, version: pool.target.version, reason: exit.reason, exitCode: exit.exitCode, inFlight: inst.inFlight });
      pool.exited(inst, exitWords(exit)); // replaced there if below minInstances or requests are waiting (after a backoff)
      return;
    }
  }

  #track(p: Promise<void>): void {
    const t = p.catch((err: unknown) => this.#log.warn('stopping an instance failed', { err })).finally(() => this.#stops.delete(t));
    this.#stops.add(t);
  }

  #collectGauges(): void {
    const m = this.deps.metrics;
    if (!m) return;
    m.instances.reset();
    m.queueDepth.reset();
    m.stemsReady.reset();
    for (const pool of this.#allPools()) {
      const fn = pool.target.function;
      for (const i of pool.instances) m.instances.inc({ function: fn, state: i.state });
      if (pool.starting > 0) m.instances.inc({ function: fn, state: 'starting' }, pool.starting);
      // A retired pool (a deleted or replaced version draining) shows a queue only while it has one: a
      // deleted function's series must not come back at 0 on every scrape until the pool is gone.
      if (!pool.retired || pool.waiting > 0) m.queueDepth.inc({ function: fn }, pool.waiting);
    }
    for (const r of this.stems.runtimes()) m.stemsReady.set({ runtime: r }, this.stems.readyCount(r));
  }

  protected async doClose(): Promise<void> {
    this.closing = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#unsubscribe();
    const shutdown = new StratusError('SHUTTING_DOWN', 'Stratus is shutting down; retry against another replica or after the restart', { retryAfterSeconds: 5 });
    for (const pool of this.#allPools()) pool.rejectAll(shutdown);
    // Let requests in flight finish, within a bound: a hung function must not hold a shutdown forever.
    const until = Date.now() + (this.deps.settings.drainTimeoutMs ?? 10_000);
    while (Date.now() < until && [...this.#allPools()].some((p) => p.inFlight > 0)) await new Promise((r) => setTimeout(r, 20));
    for (const a of this.#aborts) a.abort(shutdown);
    await Promise.allSettled([...this.#starts]); // a start finishing now is stopped by its pool (closing)
    for (const pool of this.#allPools()) for (const inst of pool.instances.splice(0)) this.stop(inst);
    this.#pools.clear();
    this.#retiring.clear();
    await this.stems.close();
    while (this.#stops.size > 0) await Promise.allSettled([...this.#stops]);
  }
}

/** How an instance that ran for a while ended, as the last error of a failing function says it. */
function exitWords(exit: Pick<InstanceExit, 'reason' | 'exitCode'>): string {
  const how = exit.reason === 'oom' ? 'ran out of memory' : exit.reason === 'killed' ? 'was killed' : `exited${exit.exitCode === null ? '' : ` with code ${exit.exitCode}`}`;
  return `an instance ${how} soon after it became ready`;
}
