// The scheduler's per-tick exchange with the other replicas (when the directory is shared): take or keep the
// leader's lease, report this replica's demand and the instances it may still call, and — on the leader —
// read everybody's reports (the autoscaler's input, as Knative's autoscaler scrapes its activators), stop
// the drained instances no replica calls any more, and sweep now and then: instances the directory lost,
// leftovers of starts whose replica died before publishing, stems of replicas that are gone, and the logs
// of instances whose replica died. One round at a time, off the request path: a call never waits on it.

import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { Backend, InstanceHandle } from '../backends/backend.js';
import type { InstanceKeeper } from '../instance-keeper.js';
import type { RemoteDemand, VersionPool } from '../version-pool.js';
import { stemReplica, type InstanceDirectory, type ReplicaReport, type SharedInstance } from './directory.js';

/** A report older than this many ticks is a replica that stopped, died or lost Redis: its demand and calls no longer count. */
const FRESH_TICKS = 3;
/** Forgotten altogether (its entry deleted) after this long. */
const FORGET_AFTER_MS = 60_000;
const SWEEP_EVERY_MS = 15_000;

export interface PlatformSyncDeps {
  directory: InstanceDirectory;
  keeper: InstanceKeeper;
  backend: Backend;
  clock: Clock;
  logger: Logger;
  tickMs: number;
  startTimeoutMs: number;
  /** Every pool this replica has (retiring ones too). */
  pools(): Iterable<VersionPool>;
  /**
   * Function instances running that no replica published: adopt those of a current version (and publish
   * them), remove the others — on the store's evidence only (scheduler/reconcile.ts).
   */
  leftovers(found: InstanceHandle[]): Promise<void>;
  /**
   * A published instance that no pool of this (leading) replica holds — one let go of while no replica led,
   * or never taken in because its version is gone: served versions take it in, the rest drain and stop.
   */
  unheld(rec: SharedInstance): Promise<void>;
  /** Whether this replica is starting an instance of the version right now (its container exists, not yet published). */
  starting(fn: string, version: number): boolean;
  /** How long a drained instance may be waited on (its function's timeout, plus a grace). */
  drainBoundMs(fn: string, version: number): number;
}

export class PlatformSync {
  /** `fn@version` -> the other replicas' demand, from their last fresh reports (the leader's autoscaler input). */
  remoteDemand = new Map<string, RemoteDemand>();
  #reports: ReplicaReport[] = [];
  #round: Promise<void> | null = null;
  #nextSweepAt = 0;
  #closed = false;

  constructor(private readonly d: PlatformSyncDeps) {}

  get #leaseMs(): number {
    return Math.max(FRESH_TICKS * this.d.tickMs, 1500);
  }

  /** The other replicas that reported lately. */
  liveReplicas(now = this.d.clock.now()): Set<string> {
    const live = new Set<string>();
    for (const r of this.#reports) if (r.replica !== this.d.directory.replica && now - r.at <= FRESH_TICKS * this.d.tickMs) live.add(r.replica);
    return live;
  }

  /** Start a round unless one is still under way (a slow Redis skips ticks rather than piling rounds up); resolves when it ends. */
  tick(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#round ??= this.#run()
      .catch((err: unknown) => this.d.logger.warn('the exchange with the other replicas failed; retried next tick', { err }))
      .finally(() => (this.#round = null));
    return this.#round;
  }

  async #run(): Promise<void> {
    const { directory: dir, keeper } = this.d;
    const leads = await dir.lead(this.#leaseMs).catch(() => false);
    if (leads !== keeper.leads) {
      this.d.logger.info(leads ? 'this replica leads the platform now: it scales, drains and sweeps for all' : 'this replica no longer leads the platform', { replica: dir.replica });
      if (leads) this.#nextSweepAt = 0;
    }
    keeper.leads = leads;
    await dir.report(this.#report());
    if (!leads) {
      this.remoteDemand = new Map();
      this.#reports = [];
      return;
    }
    this.#reports = await dir.reports();
    const now = this.d.clock.now();
    this.remoteDemand = this.#demandOfOthers(now);
    for (const r of this.#reports) if (r.replica !== dir.replica && now - r.at > FORGET_AFTER_MS) await dir.forgetReplica(r.replica);
    this.#finishDrainedStops(now);
    if (now >= this.#nextSweepAt) {
      this.#nextSweepAt = now + SWEEP_EVERY_MS;
      await this.#sweep(now);
    }
  }

  #report(): ReplicaReport {
    const versions: ReplicaReport['versions'] = {};
    const routable: string[] = [];
    for (const pool of this.d.pools()) {
      if (!pool.retired || pool.concurrency > 0) versions[pool.key] = { concurrency: pool.concurrency, lastRequestAt: pool.lastRequestAt };
      for (const i of pool.instances) if (i.state === 'ready' || !i.idle) routable.push(i.id); // a proxy's too (Instance.routed)
    }
    return { replica: this.d.directory.replica, at: this.d.clock.now(), versions, routable };
  }

  #demandOfOthers(now: number): Map<string, RemoteDemand> {
    const out = new Map<string, RemoteDemand>();
    const live = this.liveReplicas(now);
    for (const r of this.#reports) {
      if (!live.has(r.replica)) continue;
      for (const [key, v] of Object.entries(r.versions)) {
        const d = out.get(key) ?? { concurrency: 0, lastRequestAt: null };
        d.concurrency += v.concurrency;
        if (v.lastRequestAt !== null) d.lastRequestAt = Math.max(d.lastRequestAt ?? 0, v.lastRequestAt);
        out.set(key, d);
      }
    }
    return out;
  }

  /**
   * A drained instance is stopped once every live replica has reported since it was marked without naming
   * it (it has let go of it and has no call on it), or once its drain bound has passed.
   */
  #finishDrainedStops(now: number): void {
    const live = this.liveReplicas(now);
    const fresh = this.#reports.filter((r) => live.has(r.replica));
    for (const [id, p] of this.d.keeper.pendingStops) {
      const waitedOn = fresh.some((r) => r.at < p.markedAt || r.routable.includes(id));
      if (!waitedOn || now - p.markedAt > this.d.drainBoundMs(p.function, p.version)) this.d.keeper.finishStop(id);
    }
  }

  async #sweep(now: number): Promise<void> {
    const { directory: dir, backend, keeper } = this.d;
    // The directory first: an instance published after this read is in the backend's list below as well.
    const records = await dir.list();
    const handles = await backend.list({ follow: false });
    const running = new Map(handles.map((h) => [h.instanceId, h]));
    const listed = new Set(records.map((r) => r.id));
    const live = this.liveReplicas(now).add(dir.replica);
    const held = new Set<string>();
    for (const pool of this.d.pools()) for (const i of pool.instances) held.add(i.id);
    for (const rec of records) {
      const h = running.get(rec.id);
      if (!h) {
        this.d.logger.info('forgetting an instance that is no longer running', { instance: rec.id, function: rec.function, version: rec.version });
        keeper.unpublish(rec.function, rec.version, rec.id);
        continue;
      }
      if (rec.draining && !keeper.pendingStops.has(rec.id)) keeper.pendingStops.set(rec.id, { function: rec.function, version: rec.version, markedAt: now });
      if (!live.has(rec.replica)) await this.#takeOver(rec, h);
      // Not a start of this replica's still on its way into its pool: that one is held in a moment.
      const young = rec.replica === dir.replica && now - rec.startedAt <= this.d.startTimeoutMs + 5000;
      if (!rec.draining && !young && !held.has(rec.id)) await this.d.unheld(rec);
    }
    // Unpublished function instances: a start under way (here, or on another replica while it is young) is not
    // one; the rest are left by a replica that died mid-start or by an earlier run, judged as at a restart.
    const alone = live.size === 1;
    const leftovers: InstanceHandle[] = [];
    for (const h of handles) {
      if (listed.has(h.instanceId)) continue;
      if (h.role === 'stem') {
        const owner = stemReplica(h.instanceId);
        if (owner !== null && live.has(owner)) continue;
        this.d.logger.info('removing a stem no replica owns', { instance: h.instanceId });
        keeper.stopById(h.instanceId);
      } else if (h.function !== null && h.version !== null && !this.d.starting(h.function, h.version) && (alone || now - h.startedAt > this.d.startTimeoutMs + 5000)) {
        leftovers.push(h);
      }
    }
    if (leftovers.length > 0) await this.d.leftovers(leftovers);
  }

  /** Its replica is gone: follow its logs from here, and say so in the directory so no other leader does it again. */
  async #takeOver(rec: SharedInstance, handle: Parameters<NonNullable<Backend['follow']>>[0]): Promise<void> {
    this.d.backend.follow?.(handle);
    await this.d.directory.publish({ ...rec, replica: this.d.directory.replica }, null);
    this.d.logger.info('took over an instance of a replica that is gone', { instance: rec.id, replica: rec.replica });
  }

  /**
   * Whether another replica is alive: its report is fresh and it reports again within a tick (a replica
   * killed a moment ago still has a fresh report; a live one keeps making new ones).
   */
  async othersAlive(): Promise<boolean> {
    const read = async () => new Map((await this.d.directory.reports().catch(() => [])).filter((r) => r.replica !== this.d.directory.replica).map((r) => [r.replica, r.at]));
    const first = await read();
    const now = this.d.clock.now();
    if (![...first.values()].some((at) => now - at <= FRESH_TICKS * this.d.tickMs)) return false;
    await new Promise((r) => setTimeout(r, this.d.tickMs + 250));
    const again = await read();
    return [...again].some(([replica, at]) => at > (first.get(replica) ?? Number.POSITIVE_INFINITY) || (!first.has(replica) && this.d.clock.now() - at <= FRESH_TICKS * this.d.tickMs));
  }

  /** The last demand and calls this replica reports are none: the leader must not wait on a replica that left. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#round;
    await this.d.directory.forgetReplica(this.d.directory.replica).catch(() => {});
    if (this.d.keeper.leads) await this.d.directory.resign().catch(() => {});
  }
}
