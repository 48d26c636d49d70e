// Crash-loop backoff for one function version, as Kubernetes' CrashLoopBackOff: after a start that failed
// (the instance exited or never became ready) the next start waits 1 s, then 2 s, 4 s … up to a cap, so a
// version that cannot run costs a start now and then instead of one per call or per autoscaler tick.
// An instance that exits on its own soon after it became ready, with no request on it, counts as a failed
// start too — except the first such exit after a quiet period. A crash a request caused is that caller's
// 502 and no sign of a loop (the pool does not report it). Everything is reset once an instance has
// served for `stableMs` with no failure meanwhile.
//
// Pure bookkeeping on an injected clock: the pool asks canStart() and reports what happened; the
// arithmetic is tested on a manual clock without sleeping.

import { StratusError } from '../core/errors.js';
import type { Clock } from '../core/lifecycle.js';
import { failureSummary, startOutputOf } from './backends/start-output.js';

export interface CrashBackoffSettings {
  /** Delay after the first failure (default 1 s); it doubles with each further one. */
  initialMs?: number;
  /** The longest delay (default 5 min, as Kubernetes). */
  maxMs?: number;
  /** An instance up this long with no failure meanwhile ends the backoff (default 60 s); a crash sooner counts. */
  stableMs?: number;
}

/** What GET /v1/functions/NAME shows while a version is failing. */
export interface FailingState {
  /** Consecutive failed starts (crashes soon after ready included). */
  failures: number;
  /** The platform's words: safe for an anonymous caller of the function URL. */
  lastError: string;
  /** The instance's own last words (a load error with file:line): for the API only, never a function URL's answer. */
  lastOutput: string | null;
  lastFailureAt: number;
  /** No start before this time; after it, the next call (or minInstances) tries again. */
  nextTryAt: number;
}

/** The wait after `failures` consecutive failures: initial × 2^(failures − 1), capped; 0 without failures. */
export function backoffDelay(failures: number, initialMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  // 2^40 ms is beyond any cap: stop doubling before the number stops being exact.
  return Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 40));
}

export class CrashBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly stableMs: number;
  #failures = 0;
  /**
   * Starts are numbered by round: a round ends with its first failure. Starts made in one round that fail
   * together (a burst started three instances of a broken version) are one failure, not three.
   */
  #round = 0;
  #lastError = '';
  #lastOutput: string | null = null;
  #lastFailureAt = 0;
  /** The last failure or forgiven crash: the version is healthy again only after stableMs without one. */
  #lastEventAt: number | null = null;
  #nextTryAt = 0;
  /** The one crash after ready forgiven since the last reset has been used. */
  #graceUsed = false;
  /** Per instance a pool started: the round it began in and when it became ready. */
  readonly #started = new WeakMap<object, { round: number; readyAt: number }>();

  constructor(
    private readonly clock: Clock,
    settings: CrashBackoffSettings = {},
  ) {
    this.initialMs = settings.initialMs ?? 1000;
    this.maxMs = settings.maxMs ?? 5 * 60_000;
    this.stableMs = settings.stableMs ?? 60_000;
  }

  get failing(): boolean {
    return this.#failures > 0;
  }

  /** The round a start begins in: pass it back to failed()/crashed() for that start. */
  get round(): number {
    return this.#round;
  }

  /** Whether a start may begin now. */
  canStart(): boolean {
    return this.#failures === 0 || this.clock.now() >= this.#nextTryAt;
  }

  /** Milliseconds until a start may begin (0 when it may now). */
  waitMs(): number {
    return this.canStart() ? 0 : this.#nextTryAt - this.clock.now();
  }

  /** A start begun in `round` failed: the instance exited or did not become ready. */
  failed(round: number, error: string, output: string | null = null): void {
    this.#lastError = error;
    this.#lastOutput = output;
    if (round !== this.#round) return; // a sibling of a start already counted
    this.#failures++;
    this.#round++;
    this.#lastFailureAt = this.clock.now();
    this.#lastEventAt = this.#lastFailureAt;
    this.#nextTryAt = this.#lastFailureAt + backoffDelay(this.#failures, this.initialMs, this.maxMs);
  }

  /**
   * An instance begun in `round` exited on its own after `upMs` of being ready. Returns whether it
   * counts as a failure (so the replacement waits).
   */
  crashed(round: number, upMs: number, error: string): boolean {
    if (upMs >= this.stableMs) return false; // it ran fine for a long while: an ordinary exit
    if (!this.#graceUsed && this.#failures === 0) {
      this.#graceUsed = true;
      this.#lastError = error;
      this.#lastEventAt = this.clock.now();
      return false;
    }
    this.failed(round, error);
    return true;
  }

  /**
   * Called on the autoscaler tick with how long the longest-running ready instance has been up: once one
   * has served `stableMs`, with no failure or crash for as long, the version is healthy again.
   */
  settle(longestUpMs: number | null): void {
    if (this.#lastEventAt === null || longestUpMs === null || longestUpMs < this.stableMs) return;
    if (this.clock.now() - this.#lastEventAt < this.stableMs) return;
    this.#failures = 0;
    this.#graceUsed = false;
    this.#lastEventAt = null;
  }

  // ---- what a VersionPool asks, in its own terms ----

  /**
   * How many starts may begin now: none while the backoff waits; while failing with nothing running, one
   * probe at a time (its result decides the next wait); otherwise no limit of the backoff's own.
   */
  budget(live: number, starting: number): number {
    if (!this.canStart()) return 0;
    return this.failing && live === 0 ? Math.max(0, 1 - starting) : Number.POSITIVE_INFINITY;
  }

  /** Nothing runs or starts and no start may begin: a caller is answered at once rather than queued. */
  blocks(live: number, starting: number): boolean {
    return live === 0 && starting === 0 && !this.canStart();
  }

  /** A start begun in `round` produced a ready instance. */
  ready(instance: object, round: number): void {
    this.#started.set(instance, { round, readyAt: this.clock.now() });
  }

  /** A start begun in `round` failed with `err` (an InstanceStartError carries the instance's last words). */
  startFailed(round: number, err: unknown): void {
    // lastError reaches anonymous callers (FUNCTION_UNAVAILABLE): only a StratusError's words are meant for them.
    const message = err instanceof StratusError ? err.message.replace(/; see the instance logs$/, '') : 'an instance could not start (the platform log has the cause)';
    this.failed(round, message, failureSummary(startOutputOf(err)));
  }

  /** A ready instance exited on its own; whether that counts as a failed start. */
  instanceExited(instance: object, why: string): boolean {
    const s = this.#started.get(instance);
    return s !== undefined && this.crashed(s.round, this.clock.now() - s.readyAt, why);
  }

  /** settle() from the instances of a pool: the longest-running ready one decides. */
  settleFrom(instances: Iterable<{ state: string }>): void {
    if (!this.failing && !this.#graceUsed) return;
    let since: number | null = null;
    for (const i of instances) {
      if (i.state !== 'ready') continue;
      const at = this.#started.get(i)?.readyAt ?? Number.NEGATIVE_INFINITY; // adopted: up since before this run
      if (since === null || at < since) since = at;
    }
    this.settle(since === null ? null : this.clock.now() - since);
  }

  state(): FailingState | null {
    if (this.#failures === 0) return null;
    return { failures: this.#failures, lastError: this.#lastError, lastOutput: this.#lastOutput, lastFailureAt: this.#lastFailureAt, nextTryAt: this.#nextTryAt };
  }
}

/** Where a function's instance output can be read (the API; it needs the key). */
export const functionLogsPath = (fn: string): string => `/v1/functions/${fn}/logs`;

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * The fast answer while a version waits out its backoff and nothing of it runs: 503 with Retry-After,
 * the last error and where the logs are — instead of a new instance per call.
 */
export function failingError(fn: string, backoff: CrashBackoff): StratusError {
  const s = backoff.state();
  const wait = seconds(backoff.waitMs());
  const logs = functionLogsPath(fn);
  const last = s ? `its last ${s.failures === 1 ? 'start' : `${s.failures} starts`} failed (${s.lastError})` : 'its instances keep failing';
  return new StratusError('FUNCTION_UNAVAILABLE', `function ${fn} is failing: ${last}; the next try is in ${wait} s; see GET ${logs}`, {
    function: fn,
    failures: s?.failures ?? 0,
    nextTryAt: s ? new Date(s.nextTryAt).toISOString() : null,
    logs,
    retryAfterSeconds: wait,
  });
}

/** A failed start as its waiters get it: INSTANCE_START_FAILED pointing at the logs (other codes pass as they are). */
export function startFailedError(fn: string, err: unknown, backoff: CrashBackoff): StratusError {
  if (err instanceof StratusError && err.code !== 'INSTANCE_START_FAILED') return err;
  const logs = functionLogsPath(fn);
  const what = err instanceof StratusError ? err.message.replace(/; see the instance logs$/, '') : `an instance of ${fn} could not start`;
  const next = backoff.failing ? `; the next try is in ${seconds(backoff.waitMs())} s` : '';
  const details = err instanceof StratusError ? err.details : {};
  return new StratusError('INSTANCE_START_FAILED', `${what}${next}; see GET ${logs}`, { ...details, function: fn, logs }, { cause: err });
}
