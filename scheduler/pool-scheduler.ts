// The Scheduler: one VersionPool per function version, a stem pool per runtime, an autoscaler tick, the
// reaper (backend exits) and reconciliation with what an earlier run left behind (reconcile.ts). Pools do
// the dispatch arithmetic; the I/O they need (start, stop, check an instance) is the InstanceKeeper's,
// handed to them and to nobody else; this class owns the pools' lifecycle, the load-check probe and the
// gauges.

import { StratusError } from '../core/errors.js';
import { Closeable, type Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { DeployedVersion, Runtime } from '../core/types.js';
import type { InstanceExit } from './backends/backend.js';
import { asLoadFailure } from './backends/start-output.js';
import { InstanceKeeper } from './instance-keeper.js';
import { InstanceStarter } from './instance-starter.js';
import { Instance } from './instance.js';
import { reconcileLeftovers } from './reconcile.js';
import { instanceOf, LocalDirectory, newReplicaName, recordOf, stemReplica, type DirectoryChange, type InstanceDirectory, type SharedInstance } from './shared/directory.js';
import { PlatformSync } from './shared/platform-sync.js';
import type { InstanceRouter, RoutedOutcome } from './instance-router.js';
import type { AcquireOptions, FailingView, InstanceView, Lease, Scheduler } from './scheduler.js';
import type { SchedulerDeps } from './scheduler-deps.js';
import { StemPool } from './stem-pool.js';
import { VersionPool } from './version-pool.js';

export type { SchedulerDeps, SchedulerMetrics, SchedulerSettings } from './scheduler-deps.js';

const DRAIN_POLL_MS = 20;
const shuttingDown = () => new StratusError('SHUTTING_DOWN', 'Stratus is shutting down; retry against another replica or after the restart', { retryAfterSeconds: 5 });
const poolKey = (target: DeployedVersion) => `${target.function}@${target.version}`;

export class PoolScheduler extends Closeable implements Scheduler {
  readonly clock: Clock;
  readonly stems: StemPool;
  readonly #pools = new Map<string, VersionPool>();
  /** Pools of replaced or deleted versions, kept until their last instance has drained. */
  readonly #retiring = new Set<VersionPool>();
  readonly #starter: InstanceStarter;
  /** What the pools are handed to start, stop and check instances with (PoolHost). */
  readonly #host: InstanceKeeper;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #unsubscribe: () => void;
  /** Deployed versions that can start from a stem (function -> version -> runtime): their runtimes keep stems. */
  readonly #deployed = new Map<string, Map<number, Runtime>>();
  /** Where the replicas of one platform meet (shared/directory.ts); a LocalDirectory when this process is the platform. */
  readonly #directory: InstanceDirectory;
  /** The per-tick exchange with the other replicas; null when the directory is not shared. */
  readonly #sync: PlatformSync | null;
  readonly #unwatch: () => void;
  /** Whether the store outlived the earlier run (reconcile()'s opts): a leftover of an unknown function may go. */
  #storeRemembers = false;
  /**
   * Instances other replicas published for a version this replica cannot look up yet (a load check's, before
   * its build marks the version ready): taken in when the version's pool is made. fn@version -> id -> record.
   */
  readonly #unadopted = new Map<string, Map<string, SharedInstance>>();

  constructor(private readonly deps: SchedulerDeps) {
    super();
    const s = deps.settings;
    this.clock = deps.clock;
    this.#log = deps.logger.child({ component: 'scheduler' });
    const holdRefill = () => this.#starter.containerStarts > 0;
    this.#directory = deps.directory ?? new LocalDirectory(newReplicaName());
    const replica = this.#directory.shared ? this.#directory.replica : undefined;
    this.stems = new StemPool(deps.backend, { size: s.stemPoolSize, images: s.runtimeImages, startTimeoutMs: s.startTimeoutMs, holdRefill, idleMs: s.stemIdleMs, clock: deps.clock, replica }, this.#log);
    this.#starter = new InstanceStarter(deps.backend, this.stems, deps.clock, s.startTimeoutMs, this.#log);
    this.#host = new InstanceKeeper(deps, this.#starter, this.#log, this.#directory);
    this.#unsubscribe = deps.backend.onExit((exit) => this.#onExit(exit));
    this.#unwatch = this.#directory.onChange((change) => this.#onDirectoryChange(change));
    this.#sync = this.#directory.shared
      ? new PlatformSync({
          directory: this.#directory, keeper: this.#host, backend: deps.backend, clock: deps.clock, logger: this.#log, tickMs: s.tickMs, startTimeoutMs: s.startTimeoutMs,
          pools: () => this.#allPools(),
          starting: (fn, v) => (this.#pools.get(`${fn}@${v}`)?.starting ?? 0) > 0,
          leftovers: (found) => this.#reconcileFound(found),
          unheld: (rec) => this.#takeInUnheld(rec),
          drainBoundMs: (fn, v) => (this.#pools.get(`${fn}@${v}`)?.target.config.timeoutMs ?? 60_000) + 5000,
        })
      : null;
    // Until the first exchange says otherwise, a shared replica does not lead: it must not scale what another leads.
    if (this.#sync) this.#host.leads = false;
    deps.registry?.collect(() => this.#collectGauges());
    if (deps.autoTick !== false) {
      this.#timer = setInterval(() => this.tick(), s.tickMs);
      this.#timer.unref();
    }
  }

  /** Whether this replica holds the leader's lease (always true when it is the whole platform). */
  get leads(): boolean {
    return this.#host.leads;
  }

  async acquire(target: DeployedVersion, opts: AcquireOptions): Promise<Lease> {
    if (this.#host.closing) throw shuttingDown();
    return this.tryAcquire(target) ?? this.#pool(target).enqueue(opts);
  }

  tryAcquire(target: DeployedVersion): Lease | null {
    if (this.#host.closing) return null; // acquire() answers SHUTTING_DOWN
    const pool = this.#pool(target);
    pool.probation = false; // asked for: the version is served
    pool.lastRequestAt = this.clock.now();
    const lease = pool.tryAcquire();
    if (lease) this.deps.metrics?.dispatchSeconds.observe({ function: target.function }, 0);
    return lease;
  }

  async prewarm(target: DeployedVersion): Promise<void> {
    if (this.#host.closing) return;
    // A deployed version's runtime is in use: keep its stems ready for the first call, until it is retired.
    if (target.artifactDir && target.config.runtime) {
      let versions = this.#deployed.get(target.function);
      if (!versions) this.#deployed.set(target.function, (versions = new Map()));
      versions.set(target.version, target.config.runtime);
      this.stems.fill(target.config.runtime);
    }
    const pool = this.#pool(target);
    pool.probation = false; // deployed: its minInstances hold from now on
    pool.ensureMin();
  }

  /**
   * The builder's load check (core/ports/load-check.ts): one start of the version, not yet ready in the
   * store, whose ready instance stays in the version's pool — the rollout's warm-up finds it, and so does
   * the first call: a redeploy costs one cold start. A pool made for it is on probation (no minInstances)
   * until the version is asked for; if it never is, the idle TTL or a retire takes the instance away. A
   * failed start rejects with a LoadFailure (the runtime's words) and leaves the crash-loop backoff alone.
   */
  async probe(target: DeployedVersion, signal: AbortSignal): Promise<void> {
    if (this.#host.closing) throw shuttingDown();
    const fresh = !this.#pools.has(poolKey(target));
    const pool = this.#pool(target);
    if (fresh) pool.probation = true;
    await pool.probe(signal).catch((err: unknown) => {
      throw asLoadFailure(err);
    });
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
   * Adopts or removes the instances an earlier run left behind (reconcile.ts). On a shared platform: takes
   * every instance the directory lists into its pool and removes nothing — what no replica owns is the
   * leader's to sweep (shared/platform-sync.ts), and a replica that joins touches nothing of the others.
   */
  async reconcile(opts: { storeRemembers?: boolean } = {}): Promise<void> {
    if (this.#sync) {
      this.#storeRemembers = opts.storeRemembers === true;
      for (const rec of await this.#directory.list()) await this.#adoptShared(rec);
      await this.#sync.tick(); // lead (and sweep) or follow from the start, not a tick later
      return;
    }
    const known = new Set<string>();
    for (const pool of this.#allPools()) for (const i of pool.instances) known.add(i.id);
    const adopt = (h: Instance['handle'], v: DeployedVersion): boolean => {
      if (this.#host.closing) return false;
      this.#pool(v).instances.push(new Instance(h, v.config.concurrency, 'container'));
      return true;
    };
    await reconcileLeftovers(this.deps, { known, adopt, remove: (id) => this.#host.stopById(id) }, this.#log, opts);
    await this.#host.stopsSettled();
  }

  attachRouter(router: InstanceRouter): void {
    this.#host.router = router;
    router.onLoad(() => {
      if (this.#host.closing) return;
      this.#readRouter();
      for (const pool of this.#allPools()) if (pool.waiting > 0) pool.serveFreed();
    });
    for (const pool of this.#allPools()) pool.routeAll();
  }

  routedFull(target: DeployedVersion): void {
    this.#pools.get(poolKey(target))?.routedFull();
  }

  routedOutcome(instanceId: string, outcome: RoutedOutcome): void {
    for (const pool of this.#allPools()) {
      const inst = pool.instances.find((i) => i.id === instanceId);
      if (!inst || inst.state === 'stopping') continue;
      // A crash recycles it, as a lease's would. A timeout too, but gently: the proxy answered 504 and let the
      // connection go while the handler may run on, holding a slot of the runtime's that the proxy now thinks
      // free — so no new call goes to it, and it is stopped (handler and all) once its other calls ended.
      if (outcome === 'crashed') this.#host.troubled(pool, inst, outcome);
      else pool.replaceWhenIdle(inst);
      return;
    }
  }

  /** The router's calls per instance and its last call per version, into the pools before they scale. */
  #readRouter(): void {
    const router = this.#host.router;
    if (router === null) return;
    const inFlight = router.inFlight();
    const lastCalls = router.lastCalls();
    for (const pool of this.#allPools()) {
      for (const i of pool.instances) i.proxied = i.routed ? (inFlight.get(i.id) ?? 0) : 0;
      const last = lastCalls.get(pool.key);
      if (last !== undefined && last > (pool.lastRequestAt ?? 0)) {
        pool.lastRequestAt = last;
        pool.probation = false; // called: the version is served
      }
    }
  }

  /** One autoscaler step for every pool, then stem refill. Runs every tickMs; tests call it directly. */
  tick(): void {
    if (this.#host.closing) return;
    const now = this.clock.now();
    this.#readRouter();
    this.#sync?.tick();
    const remote = this.#sync?.remoteDemand;
    if (remote) for (const key of remote.keys()) if (!this.#pools.has(key)) void this.#poolFor(key, 'demand');
    for (const [key, pool] of this.#pools) {
      try {
        pool.scale(now, remote?.get(key) ?? null);
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

  // ---- internals ----

  #pool(target: DeployedVersion): VersionPool {
    const key = poolKey(target);
    let pool = this.#pools.get(key);
    if (!pool) {
      const s = this.deps.settings;
      const autoscaler = this.deps.newAutoscaler({ stableWindowMs: s.stableWindowMs, panicWindowMs: s.panicWindowMs, targetUtilization: s.targetUtilization });
      pool = new VersionPool(target, autoscaler, this.#host);
      this.#pools.set(key, pool);
      const unadopted = this.#unadopted.get(key);
      this.#unadopted.delete(key);
      for (const rec of unadopted?.values() ?? []) pool.adopt(instanceOf(rec));
    }
    return pool;
  }

  /** Shared platform: leftovers the leader's sweep found, judged as at a restart; one of a current version is published. */
  async #reconcileFound(found: Instance['handle'][]): Promise<void> {
    const adopt = (h: Instance['handle'], v: DeployedVersion): boolean => {
      if (this.#host.closing) return false;
      const inst = new Instance(h, v.config.concurrency, 'container');
      this.#pool(v).adopt(inst);
      this.deps.backend.follow?.(h);
      void this.#directory
        .publish(recordOf(inst, v.function, v.version, this.#directory.replica), null)
        .catch((err: unknown) => this.#log.warn('could not publish an adopted instance', { instance: h.instanceId, err }));
      return true;
    };
    await reconcileLeftovers(this.deps, { known: new Set(), adopt, remove: (id) => this.#host.stopById(id) }, this.#log, { storeRemembers: this.#storeRemembers, found });
  }

  /** The pool of `fn@version`, made from the store's record when there is none here yet (demand another replica reported). */
  async #poolFor(key: string, why: 'demand' | 'instance'): Promise<VersionPool | null> {
    const at = key.lastIndexOf('@');
    const v = await this.deps.lookupVersion(key.slice(0, at), Number(key.slice(at + 1))).catch(() => null);
    if (!v || this.#host.closing) return null;
    const known = this.#pools.get(key);
    if (known) return known;
    const pool = this.#pool(v);
    // An instance alone (a load check's, through another replica) does not make the version served here.
    pool.probation = why === 'instance';
    return pool;
  }

  /** An instance another replica started: it serves this replica's calls too. */
  async #adoptShared(rec: SharedInstance): Promise<void> {
    if (rec.replica === this.#directory.replica) return; // this replica's own: already in its pool
    const key = `${rec.function}@${rec.version}`;
    const pool = await this.#poolFor(key, 'instance');
    if (pool) return pool.adopt(instanceOf(rec));
    let waiting = this.#unadopted.get(key);
    if (!waiting) this.#unadopted.set(key, (waiting = new Map()));
    waiting.set(rec.id, rec);
  }

  /** The leader's sweep found a published instance no pool here holds: a served version's pool takes it in; a gone version's drains and stops. */
  async #takeInUnheld(rec: SharedInstance): Promise<void> {
    const pool = await this.#poolFor(`${rec.function}@${rec.version}`, 'instance');
    if (pool) return pool.adopt(instanceOf(rec));
    this.#unadopted.get(`${rec.function}@${rec.version}`)?.delete(rec.id);
    this.#log.info('stopping an instance of a version that is gone', { instance: rec.id, function: rec.function, version: rec.version });
    this.#host.drainGone(rec);
  }

  #onDirectoryChange(change: DirectoryChange): void {
    if (this.#host.closing) return;
    if (change.op === 'up') {
      void this.#adoptShared(change.instance).catch((err: unknown) => this.#log.warn('could not take in an instance another replica started', { instance: change.instance.id, err }));
      return;
    }
    if (change.op === 'resync') {
      void this.#resync().catch((err: unknown) => this.#log.warn('could not re-read the instance directory', { err }));
      return;
    }
    const key = `${change.function}@${change.version}`;
    const unadopted = this.#unadopted.get(key)?.get(change.id);
    if (unadopted && change.op === 'drain') unadopted.draining = true;
    if (unadopted && change.op === 'down') this.#unadopted.get(key)!.delete(change.id);
    const pool = this.#pools.get(key) ?? [...this.#retiring].find((p) => p.key === key);
    if (change.op === 'drain') pool?.markDraining(change.id);
    else pool?.forget(change.id);
  }

  /** After lost notices: take in what is listed, forget what no longer is. */
  async #resync(): Promise<void> {
    const records = await this.#directory.list();
    const listed = new Set(records.map((r) => r.id));
    for (const pool of this.#allPools()) for (const i of [...pool.instances]) if (!listed.has(i.id) && i.state !== 'starting') pool.forget(i.id);
    for (const rec of records) await this.#adoptShared(rec);
  }

  /**
   * The last replica to stop takes the platform's instances with it — also those no pool here held: let go
   * of while this replica did not lead (a Redis outage takes the lease away), or a dead replica's stems.
   */
  async #leaveNothing(): Promise<void> {
    await this.#host.stopsSettled();
    for (const rec of await this.#directory.list().catch(() => [])) await this.#directory.remove(rec.function, rec.version, rec.id).catch(() => {});
    const own = (h: Instance['handle']) => h.role === 'stem' && stemReplica(h.instanceId) === this.#directory.replica; // stems.close() stops these
    for (const h of await this.deps.backend.list({ follow: false }).catch(() => [])) if (!own(h)) this.#host.stopById(h.instanceId);
  }

  *#allPools(): Iterable<VersionPool> {
    yield* this.#pools.values();
    yield* this.#retiring;
  }

  #onExit(exit: InstanceExit): void {
    if (this.#host.closing) return;
    if (this.stems.forget(exit.instanceId)) {
      this.#log.warn('a stem exited; the pool refills on the next tick', { instance: exit.instanceId, reason: exit.reason });
      this.#host.stopById(exit.instanceId);
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
    this.#host.beginClose();
    if (this.#timer) clearInterval(this.#timer);
    this.#unsubscribe();
    const shutdown = shuttingDown();
    for (const pool of this.#allPools()) pool.rejectAll(shutdown);
    // Let requests in flight finish, within a bound on the platform's clock: a hung function must not hold a shutdown forever.
    const until = this.clock.now() + (this.deps.settings.drainTimeoutMs ?? 10_000);
    while (this.clock.now() < until && [...this.#allPools()].some((p) => p.inFlight > 0)) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    await this.#host.abortStarts(shutdown); // a start finishing now is stopped by its pool (closing)
    // On a shared platform the instances serve the other replicas: they stay, unless this was the last one.
    const othersLive = this.#sync !== null && (await this.#sync.othersAlive());
    this.#unwatch();
    await this.#sync?.close();
    for (const pool of this.#allPools()) {
      for (const inst of pool.instances.splice(0)) {
        if (othersLive) inst.dispose();
        else this.#host.stop(inst, 'broken');
      }
    }
    // Drained instances waiting for the others: now, if there are none (else the next leader's sweep finishes them).
    if (!othersLive) this.#host.finishAllStops();
    if (!othersLive && this.#sync) await this.#leaveNothing();
    this.#pools.clear();
    this.#retiring.clear();
    await this.stems.close();
    await this.#host.stopsSettled();
    await this.#directory.close();
  }
}

/** How an instance that ran for a while ended, as the last error of a failing function says it. */
function exitWords(exit: Pick<InstanceExit, 'reason' | 'exitCode'>): string {
  const how = exit.reason === 'oom' ? 'ran out of memory' : exit.reason === 'killed' ? 'was killed' : `exited${exit.exitCode === null ? '' : ` with code ${exit.exitCode}`}`;
  return `an instance ${how} soon after it became ready`;
}
