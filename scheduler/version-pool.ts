// The instances of one function version and the requests waiting for a slot on them. Dispatch picks the
// least-loaded ready instance with a free slot; otherwise the request waits in a FIFO queue while the
// pool starts what the queue needs — ceil(waiting / concurrency) starts in flight, shared by all waiters
// (the singleflight idea: a burst on a cold function does not start one container per request). A freed
// slot goes straight to the oldest waiter. Past maxInstances the queue is bounded and has a deadline;
// a request that cannot wait is answered 429 with Retry-After, never dropped. Starts that keep failing
// are spaced out by a crash-loop backoff (crash-backoff.ts); meanwhile callers get a fast 503.

import { StratusError } from '../core/errors.js';
import type { Clock } from '../core/lifecycle.js';
import type { DeployedVersion } from '../core/types.js';
import type { Autoscaler, ScaleDecision } from './autoscaler.js';
import { CrashBackoff, failingError, startFailedError } from './crash-backoff.js';
import { StartNotNeeded } from './shared/directory.js';
import type { ColdStart } from './instance-starter.js';
import type { Instance } from './instance.js';
import type { InstanceRouter } from './instance-router.js';
import { PoolLease, type LeaseOwner } from './lease.js';
import { startTooSlowError, tooManyError } from './queue-errors.js';
import type { AcquireOptions, Lease, LeaseOutcome, StartKind } from './scheduler.js';

export type ScalingPolicy = Pick<Autoscaler, 'record' | 'decide'>;

export interface StartOptions {
  /** A version that keeps failing (or is load-checked) starts a container of its own, not at a stem's cost. */
  avoidStems?: boolean;
  /** Gives the start up early (the build that asked for a load check was stopped). */
  signal?: AbortSignal;
  /** A load check's start: its failure is the build's to tell, not the platform log's. */
  probe?: boolean;
  /** How many instances of the version the platform should have, ready or starting, counting this start. */
  want?: number;
}

/** Why an instance leaves its pool: 'broken' ones go for every replica at once; 'policy' ones are the leader's to stop. */
export type StopCause = 'broken' | 'policy';

/** Demand for the version seen by the other replicas (their last reports), added to this pool's own. */
export interface RemoteDemand {
  concurrency: number;
  lastRequestAt: number | null;
}

/** What a pool needs from the scheduler that owns it. */
export interface PoolHost {
  readonly clock: Clock;
  readonly queueDepth: number;
  readonly queueTimeoutMs: number;
  readonly closing: boolean;
  /** This replica decides the platform's scaling (the leader; always, on one process). */
  readonly leads: boolean;
  /** A data plane beside the leases (a native proxy) that ready instances are given to; null: none. */
  readonly router: InstanceRouter | null;
  start(target: DeployedVersion, opts?: StartOptions): Promise<ColdStart>;
  /** Stop and forget an instance that left its pool (drained, unhealthy, exited). */
  stop(inst: Instance, cause?: StopCause): void;
  /** An instance takes no new calls from now on: the other replicas are told. */
  draining(inst: Instance): void;
  /** After a release with 'timeout' (check it), 'crashed' or 'hung' (recycle it). */
  troubled(pool: VersionPool, inst: Instance, outcome: LeaseOutcome): void;
  diagnose(inst: Instance): ReturnType<Lease['diagnose']>;
  dispatched(pool: VersionPool, waitedMs: number, coldStart: ColdStart | null): void;
}

interface Waiter {
  resolve(lease: Lease): void;
  reject(err: unknown): void;
  enqueuedAt: number;
  deadline: number;
  cleanup(): void;
}

export class VersionPool implements LeaseOwner {
  readonly instances: Instance[] = [];
  readonly #waiters: Waiter[] = [];
  starting = 0;
  lastRequestAt: number | null = null;
  /** Retired: a newer version replaced this one (or the function is gone); instances drain and stop. */
  retired = false;
  /**
   * Made for a load check (probe) and not asked for by a call or a prewarm since: the version is not
   * served (it may never be), so minInstances does not hold yet and only the idle TTL keeps its instance.
   */
  probation = false;
  readonly backoff: CrashBackoff;

  constructor(
    public target: DeployedVersion,
    readonly autoscaler: ScalingPolicy,
    private readonly host: PoolHost,
  ) {
    this.backoff = new CrashBackoff(host.clock);
  }

  get key(): string {
    return `${this.target.function}@${this.target.version}`;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  get inFlight(): number {
    let n = 0;
    for (const i of this.instances) n += i.inFlight;
    return n;
  }

  /** Ready instances that take new requests (not draining). */
  get live(): number {
    let n = 0;
    for (const i of this.instances) if (i.state === 'ready') n++;
    return n;
  }

  /** The warm path: a slot on the least-loaded ready instance, or null. No I/O, one pass over the instances. */
  tryAcquire(): Lease | null {
    if (this.#waiters.length > 0) return null; // fairness: earlier waiters go first
    let best: Instance | null = null;
    for (const i of this.instances) if (i.hasFreeSlot && (best === null || i.inFlight < best.inFlight)) best = i;
    if (best === null) return null;
    best.inFlight++;
    best.lastUsedAt = this.lastRequestAt;
    return this.#lease(best, 'warm', null);
  }

  /** The slow path: wait for a slot, starting instances if the function is below maxInstances. */
  enqueue(opts: AcquireOptions): Promise<Lease> {
    const now = this.host.clock.now();
    return new Promise<Lease>((resolve, reject) => {
      if (!this.retired && this.backoff.blocks(this.live, this.starting)) return reject(failingError(this.target.function, this.backoff));
      const deadline = Math.min(opts.deadline, now + this.host.queueTimeoutMs);
      // Starts in flight absorb waiters; beyond them only queueDepth may wait for a busy instance to free up.
      const conc = this.target.config.concurrency;
      const waiting = this.#waiters.length + 1;
      const room = Math.min(this.target.config.maxInstances - this.live - this.starting, this.backoff.budget(this.live, this.starting));
      const startable = this.host.closing || this.retired ? 0 : Math.max(0, room);
      const starts = Math.max(this.starting, Math.min(Math.ceil(waiting / conc), this.starting + startable));
      if (waiting > starts * conc + this.host.queueDepth) {
        reject(tooManyError(this.target, 'its queue is full'));
        return;
      }
      const waiter: Waiter = { resolve, reject, enqueuedAt: now, deadline, cleanup: () => {} };
      this.#waiters.push(waiter);
      this.ensureStarts();
      const timer = setTimeout(() => this.expire(this.host.clock.now()), Math.max(0, deadline - now));
      const onAbort = () => this.#drop(waiter, opts.signal?.reason ?? new StratusError('INVALID_REQUEST', 'the request was cancelled'));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      waiter.cleanup = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
    });
  }

  /** Start what the waiters need: starts in flight = ceil(waiting / concurrency), within maxInstances. */
  ensureStarts(): void {
    if (this.host.closing) return;
    const cfg = this.target.config;
    const want = Math.ceil(this.#waiters.length / cfg.concurrency);
    const room = (this.retired ? 0 : cfg.maxInstances) - this.live - this.starting;
    // A retired pool starts nothing, unless its waiters would otherwise have nobody to serve them.
    const retiredNeed = this.retired && this.instances.length === 0 && this.starting === 0 && this.#waiters.length > 0 ? 1 : 0;
    const n = Math.min(Math.max(Math.min(want - this.starting, room), retiredNeed), this.backoff.budget(this.live, this.starting));
    // Platform-wide, what these waiters need is the ready instances plus one start per `concurrency` of them:
    // a start another replica has under way for its own waiters counts, and serves these too.
    for (let i = 0; i < n; i++) this.startOne(this.live + Math.max(want, retiredNeed));
  }

  /** minInstances, once the version is served (see probation). */
  get minInstances(): number {
    return this.probation ? 0 : this.target.config.minInstances;
  }

  /** Keep minInstances (running or starting). */
  ensureMin(): void {
    if (this.retired || this.host.closing || !this.host.leads) return;
    const n = Math.min(this.minInstances - this.live - this.starting, this.backoff.budget(this.live, this.starting));
    for (let i = 0; i < n; i++) this.startOne(this.minInstances);
  }

  /** One start, if the platform has fewer than `want` instances of the version ready or starting. */
  startOne(want?: number): void {
    void this.#start({ avoidStems: this.backoff.failing, want }, true);
  }

  /**
   * The load check of a version not served yet: one start of a container of its own (from the image, as
   * the check always started it), whose ready instance joins the pool, so the rollout's warm-up and the
   * first call find it warm. Rejects with the start's error. That failure is the build's, told by the
   * build: it is not counted in the crash-loop backoff, which would otherwise show the function failing
   * (GET /v1/functions/NAME) for a version that never served.
   */
  async probe(signal: AbortSignal): Promise<void> {
    const failed = await this.#start({ avoidStems: true, signal, probe: true }, false);
    if (failed) throw failed.error;
  }

  /** One start; resolves with its error (null once the instance is in the pool). `counted`: a failure counts in the backoff. */
  async #start(opts: StartOptions, counted: boolean): Promise<{ error: unknown } | null> {
    this.starting++;
    const round = this.backoff.round;
    let cs: ColdStart;
    try {
      cs = await this.host.start(this.target, opts);
    } catch (err) {
      this.starting--;
      if (err instanceof StartNotNeeded) return null; // another replica's start serves the same need
      if (counted && !this.host.closing) this.backoff.startFailed(round, err);
      this.#onStartFailed(err);
      return { error: err };
    }
    this.starting--;
    this.backoff.ready(cs.instance, round);
    this.#onStarted(cs);
    return null;
  }

  /**
   * An instance exited on its own: out of the pool. A ready one exiting with no request on it, soon after
   * it started, counts as a failed start (crash-loop backoff). One a request crashed (in flight, or draining
   * since) does not: that call's caller got the 502, and the next call may well be served.
   */
  exited(inst: Instance, why: string): void {
    const spontaneous = inst.state === 'ready' && inst.inFlight === 0 && inst.proxied === 0 && this.instances.includes(inst);
    const counted = spontaneous && this.backoff.instanceExited(inst, why);
    this.remove(inst, 'broken');
    if (counted && this.backoff.blocks(this.live, this.starting)) this.rejectAll(failingError(this.target.function, this.backoff));
  }

  #onStarted(cs: ColdStart): void {
    const inst = cs.instance;
    if (this.host.closing || (this.retired && this.#waiters.length === 0)) {
      this.host.stop(inst);
      return;
    }
    inst.state = this.retired ? 'draining' : 'ready';
    this.instances.push(inst);
    this.#serveWaiters(inst, cs);
    this.#route(inst);
  }

  /**
   * An instance another replica started (or one found at start-up): it serves this replica's calls too.
   * The waiters get it as a warm slot: they did not wait for a start of their own.
   */
  adopt(inst: Instance): void {
    if (this.instances.some((i) => i.id === inst.id)) return inst.dispose();
    if (this.retired && inst.state === 'ready') inst.state = 'draining';
    this.instances.push(inst);
    if (inst.state === 'ready' || (this.retired && inst.state === 'draining')) this.#serveWaiters(inst, null);
    this.#route(inst);
    if (inst.idle && inst.state === 'draining') this.remove(inst);
  }

  /** Another replica drains it: no new calls from here; it leaves this pool once this replica's calls on it end. */
  markDraining(id: string): void {
    const inst = this.instances.find((i) => i.id === id);
    if (!inst || inst.state !== 'ready') return;
    inst.state = 'draining';
    this.#unroute(inst);
    if (inst.idle) this.remove(inst);
  }

  /** It is gone (stopped or exited, as another replica saw): forget it; calls on it fail on their own. */
  forget(id: string): void {
    const i = this.instances.findIndex((x) => x.id === id);
    if (i < 0) return;
    const [inst] = this.instances.splice(i, 1);
    inst!.state = 'stopping';
    this.#unroute(inst!);
    inst!.dispose();
    this.ensureStarts();
    this.ensureMin();
  }

  #serveWaiters(inst: Instance, cs: ColdStart | null): void {
    // The waiters this start was made for are served first, and are told they waited for a cold start.
    while (this.#waiters.length > 0 && inst.inFlight < inst.concurrency) {
      const w = this.#waiters.shift()!;
      inst.inFlight++;
      this.#serve(w, inst, cs);
    }
    if (inst.idle && this.retired) this.remove(inst);
  }

  #onStartFailed(err: unknown): void {
    // With nothing running and nothing else starting the waiters have nobody to wait for: fail them now
    // with the start error rather than at their deadline.
    if (this.live === 0 && this.starting === 0) {
      const error = startFailedError(this.target.function, err, this.backoff);
      for (const w of this.#waiters.splice(0)) {
        w.cleanup();
        w.reject(error);
      }
    }
  }

  #serve(w: Waiter, inst: Instance, cs: ColdStart | null): void {
    w.cleanup();
    inst.lastUsedAt = this.host.clock.now();
    w.resolve(this.#lease(inst, cs ? cs.kind : 'warm', cs));
    this.host.dispatched(this, this.host.clock.now() - w.enqueuedAt, cs);
  }

  #lease(inst: Instance, start: StartKind, cs: ColdStart | null): Lease {
    return new PoolLease(this, inst, start, cs);
  }

  diagnoseInstance(inst: Instance): ReturnType<Lease['diagnose']> {
    return this.host.diagnose(inst);
  }

  /**
   * LeaseOwner: a lease gives its slot back (once), when the instance is done with the call. After
   * 'crashed' or 'hung' the instance is not trusted with another call (host.troubled recycles it): its
   * slot goes to nobody, even in a retired pool whose draining instances still serve the queue.
   */
  releaseSlot(inst: Instance, outcome: LeaseOutcome): void {
    const recycle = outcome === 'crashed' || outcome === 'hung';
    const troubled = recycle || outcome === 'timeout';
    const canServe = inst.state === 'ready' || (inst.state === 'draining' && this.retired);
    if (canServe && !troubled && this.#waiters.length > 0) {
      this.#serve(this.#waiters.shift()!, inst, null); // the slot passes on; inFlight stays the same
      return;
    }
    inst.inFlight--;
    if (troubled && inst.state !== 'stopping') this.host.troubled(this, inst, outcome);
    const stillServes = !recycle && (inst.state === 'ready' || (inst.state === 'draining' && this.retired));
    if (stillServes && this.#waiters.length > 0) {
      // A timed-out request's slot still goes to a waiter (its answer did end): the health check runs alongside.
      inst.inFlight++;
      this.#serve(this.#waiters.shift()!, inst, null);
    } else if (inst.state === 'draining' && inst.idle) {
      this.remove(inst);
    }
  }

  /** Take an instance out of the pool and stop it (see StopCause); waiters it leaves behind get a replacement. */
  remove(inst: Instance, cause: StopCause = 'policy'): void {
    const i = this.instances.indexOf(inst);
    if (i < 0) return;
    this.instances.splice(i, 1);
    inst.state = 'stopping';
    this.#unroute(inst); // a broken one goes at once: the proxy's calls on it fail with it
    this.host.stop(inst, cause);
    this.ensureStarts();
    this.ensureMin();
  }

  /** Stop taking new requests on `n` instances (the least loaded); each stops once its last request ends. */
  drain(n: number): void {
    const candidates = this.instances.filter((i) => i.state === 'ready').sort((a, b) => a.inFlight - b.inFlight || (a.lastUsedAt ?? 0) - (b.lastUsedAt ?? 0));
    for (const inst of candidates.slice(0, n)) {
      inst.state = 'draining';
      this.host.draining(inst);
      this.#unroute(inst);
      if (inst.idle) this.remove(inst);
    }
  }

  /** A call on it failed so that it is not trusted with another: no new call, from here or the proxy. */
  stopTaking(inst: Instance): void {
    if (inst.state !== 'ready') return;
    inst.state = 'draining';
    this.#unroute(inst);
  }

  /** No new call on it; it stops (and minInstances or the demand brings another) once its calls ended. */
  replaceWhenIdle(inst: Instance): void {
    this.stopTaking(inst);
    if (inst.idle) this.remove(inst);
  }

  /** The proxy's calls were read again: slots it freed go to the calls waiting here, oldest first. */
  serveFreed(): void {
    for (const inst of this.instances) {
      while (this.#waiters.length > 0 && inst.hasFreeSlot) {
        inst.inFlight++;
        this.#serve(this.#waiters.shift()!, inst, null);
      }
    }
  }

  /** The proxy sent a call here because every routed instance was full: count them full until the next read. */
  routedFull(): void {
    for (const inst of this.instances) if (inst.routed && inst.state === 'ready') inst.proxied = Math.max(inst.proxied, inst.concurrency - inst.inFlight);
  }

  /** Give each ready instance to the router (one attached after they started). */
  routeAll(): void {
    for (const inst of this.instances) this.#route(inst);
  }

  /** The router's calls on this version's instances, as last read: part of the version's concurrency. */
  get proxied(): number {
    let n = 0;
    for (const i of this.instances) n += i.proxied;
    return n;
  }

  #route(inst: Instance): void {
    const router = this.host.router;
    if (router === null || inst.routed || inst.state !== 'ready') return;
    inst.routed = true;
    const { config } = this.target;
    router.route({ id: inst.id, function: this.target.function, version: this.target.version, endpoint: inst.handle.endpoint, concurrency: inst.concurrency, memoryMb: config.memoryMb, timeoutMs: config.timeoutMs });
  }

  /** It left 'ready': the router sends it no new call; once the router let go, a draining one may go. */
  #unroute(inst: Instance): void {
    if (!inst.routed || inst.unrouting) return;
    inst.unrouting = true;
    this.host.router?.unroute(inst.id, () => {
      inst.routed = false;
      inst.unrouting = false;
      inst.proxied = 0;
      if (inst.state === 'draining' && inst.inFlight === 0 && this.instances.includes(inst) && (this.retired ? this.#waiters.length === 0 : true)) this.remove(inst);
    });
  }

  /** What this replica reports of the version each tick: its own calls, in flight and waiting. */
  get concurrency(): number {
    return this.inFlight + this.proxied + this.#waiters.length;
  }

  /**
   * One autoscaler step: record the observed concurrency (this replica's, plus the others' last reports on
   * the leader), then — on the leader only — start or drain toward the decision. A replica that does not
   * lead only retries the starts its own waiters need (a refused reservation, a failed start elsewhere).
   */
  scale(now: number, remote: RemoteDemand | null = null): ScaleDecision | null {
    this.expire(now);
    this.autoscaler.record(now, this.concurrency + (remote?.concurrency ?? 0));
    if (remote?.lastRequestAt != null) {
      this.lastRequestAt = Math.max(this.lastRequestAt ?? 0, remote.lastRequestAt);
      this.probation = false; // served, through another replica
    }
    if (this.retired || this.host.closing) return null;
    if (!this.host.leads) {
      this.ensureStarts();
      return null;
    }
    this.backoff.settleFrom(this.instances);
    const cfg = this.target.config;
    const live = this.live;
    const decision = this.autoscaler.decide({
      now,
      readyInstances: live,
      perInstanceConcurrency: cfg.concurrency,
      minInstances: this.minInstances,
      maxInstances: cfg.maxInstances,
      idleTtlMs: cfg.idleTtlMs,
      lastRequestAt: this.lastRequestAt,
    });
    const desired = Math.min(Math.max(decision.desired, this.minInstances), cfg.maxInstances);
    if (this.backoff.failing) {
      // No instance is kept warm for a failing version: only waiting callers and minInstances start one.
      this.ensureStarts();
      this.ensureMin();
    } else if (desired > live + this.starting) {
      for (let i = live + this.starting; i < desired; i++) this.startOne(desired);
    } else if (desired < live && this.#waiters.length === 0) {
      // Instances started on demand during a burst are not the autoscaler's doing, and its stable window
      // still averages the quiet seconds before the burst: never drain below what the requests in flight
      // need right now, and (as Knative's max scale-down rate) at most half of the instances per tick.
      const neededNow = Math.ceil((this.inFlight + this.proxied) / cfg.concurrency);
      const keep = Math.max(desired, neededNow + Math.ceil((remote?.concurrency ?? 0) / cfg.concurrency), Math.floor(live / 2));
      if (keep < live) this.drain(live - keep);
    }
    return decision;
  }

  /**
   * Answer waiters past their deadline (also run by a timer per waiter; the clock decides): 429 when the
   * function is at its limit, but a 504 when a cold start was still under way — the caller waited on a
   * slow start, not on a busy function, and a Retry-After would send it back into the same wait.
   */
  expire(now: number): void {
    for (let i = 0; i < this.#waiters.length; ) {
      const w = this.#waiters[i]!;
      if (w.deadline <= now) this.#drop(w, this.starting > 0 ? startTooSlowError(this.target, w.deadline - w.enqueuedAt) : tooManyError(this.target, `no slot freed up within ${w.deadline - w.enqueuedAt} ms`));
      else i++;
    }
  }

  /** Retire: no new instances; running ones finish their requests (and serve those already queued), then stop. */
  retire(): void {
    this.retired = true;
    for (const inst of [...this.instances]) {
      inst.state = 'draining';
      this.#unroute(inst);
      if (inst.idle && this.#waiters.length === 0) this.remove(inst);
    }
  }

  rejectAll(err: unknown): void {
    for (const w of this.#waiters.splice(0)) {
      w.cleanup();
      w.reject(err);
    }
  }

  /** Nothing running, starting or waiting, nothing to keep warm, no backoff to remember: the scheduler may forget the pool. */
  get empty(): boolean {
    const idle = this.instances.length === 0 && this.starting === 0 && this.#waiters.length === 0;
    return idle && (this.retired || (this.minInstances === 0 && !this.backoff.failing));
  }

  #drop(w: Waiter, err: unknown): void {
    const i = this.#waiters.indexOf(w);
    if (i >= 0) this.#waiters.splice(i, 1);
    w.cleanup();
    w.reject(err);
  }
}
