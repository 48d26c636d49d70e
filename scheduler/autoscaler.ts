// The autoscaler's arithmetic, apart from any I/O (the idea of Knative's KPA): the scheduler records the
// observed concurrency of one function version about once a second and asks for a decision each tick.
// Two moving averages over per-second buckets: a long stable window that scales smoothly, and a short
// panic window that reacts to bursts. In panic the count only grows, so a burst is not undone by the
// slower stable average; panic ends once a whole stable window has passed without the burst condition.

import { StratusError } from '../core/errors.js';

export interface AutoscalerSettings {
  stableWindowMs: number;
  panicWindowMs: number;
  targetUtilization: number;
  /** Panic starts when the panic-window demand reaches this multiple of current capacity (default 2). */
  panicThreshold?: number;
}

export interface ScaleInput {
  now: number;
  readyInstances: number;
  perInstanceConcurrency: number;
  minInstances: number;
  maxInstances: number;
  idleTtlMs: number;
  lastRequestAt: number | null;
}

export interface ScaleDecision {
  desired: number;
  panic: boolean;
  stableConcurrency: number;
  panicConcurrency: number;
  reason: string;
}

const SECOND_MS = 1000;
/** ceil() of a ratio computed in floating point: 7 / 0.7 must give 10, not 11. */
const CEIL_EPSILON = 1e-9;

function ceilRatio(value: number, per: number): number {
  return Math.max(0, Math.ceil(value / per - CEIL_EPSILON));
}

/** Per-second buckets in a fixed-size ring: memory is bounded by the stable window, whatever the run length. */
class SecondBuckets {
  readonly #seconds: Float64Array; // which absolute second a slot holds (NaN when empty)
  readonly #sums: Float64Array;
  readonly #counts: Uint32Array;
  #firstSecond: number | undefined;
  #newestSecond: number | undefined;

  constructor(readonly capacity: number) {
    this.#seconds = new Float64Array(capacity).fill(Number.NaN);
    this.#sums = new Float64Array(capacity);
    this.#counts = new Uint32Array(capacity);
  }

  add(second: number, value: number): void {
    // A sample older than the ring reaches would overwrite newer data (or nothing useful): drop it.
    if (this.#newestSecond !== undefined && second <= this.#newestSecond - this.capacity) return;
    const slot = ((second % this.capacity) + this.capacity) % this.capacity;
    if (this.#seconds[slot] !== second) {
      this.#seconds[slot] = second;
      this.#sums[slot] = 0;
      this.#counts[slot] = 0;
    }
    this.#sums[slot]! += value;
    this.#counts[slot]! += 1;
    if (this.#firstSecond === undefined || second < this.#firstSecond) this.#firstSecond = second;
    if (this.#newestSecond === undefined || second > this.#newestSecond) this.#newestSecond = second;
  }

  /**
   * Average over the `windowSeconds` seconds ending at `nowSecond`. Several samples within one second are
   * averaged first; a second without a sample counts as 0 once the window has started; before the window
   * is full (recording began less than a window ago), the average covers only the time since the first sample.
   */
  average(nowSecond: number, windowSeconds: number): number {
    if (this.#firstSecond === undefined || this.#firstSecond > nowSecond) return 0;
    const from = Math.max(nowSecond - windowSeconds + 1, this.#firstSecond);
    let total = 0;
    for (let s = from; s <= nowSecond; s++) {
      const slot = ((s % this.capacity) + this.capacity) % this.capacity;
      if (this.#seconds[slot] === s) total += this.#sums[slot]! / this.#counts[slot]!;
    }
    return total / (nowSecond - from + 1);
  }
}

export class Autoscaler {
  readonly #stableSeconds: number;
  readonly #panicSeconds: number;
  readonly #stableWindowMs: number;
  readonly #targetUtilization: number;
  readonly #panicThreshold: number;
  readonly #buckets: SecondBuckets;
  /** Last time the panic condition held; undefined when not panicking. */
  #panicSince: number | undefined;
  #lastConditionAt: number | undefined;
  /** Highest count decided during the current panic: the decision never drops below it until panic ends. */
  #panicHigh = 0;
  /** First time this autoscaler saw the clock: a never-used function is kept until it is older than the TTL. */
  #bornAt: number | undefined;

  constructor(settings: AutoscalerSettings) {
    const { stableWindowMs, panicWindowMs, targetUtilization, panicThreshold = 2 } = settings;
    if (!(stableWindowMs >= SECOND_MS)) invalid('stableWindowMs', 'must be at least 1000 ms');
    if (!(panicWindowMs > 0 && panicWindowMs <= stableWindowMs)) invalid('panicWindowMs', 'must be above 0 and at most stableWindowMs');
    if (!(targetUtilization > 0 && targetUtilization <= 1)) invalid('targetUtilization', 'must be in (0, 1]');
    if (!(panicThreshold >= 1)) invalid('panicThreshold', 'must be at least 1');
    this.#stableSeconds = Math.ceil(stableWindowMs / SECOND_MS);
    this.#panicSeconds = Math.max(1, Math.ceil(panicWindowMs / SECOND_MS));
    this.#stableWindowMs = stableWindowMs;
    this.#targetUtilization = targetUtilization;
    this.#panicThreshold = panicThreshold;
    this.#buckets = new SecondBuckets(this.#stableSeconds);
  }

  /** Number of per-second buckets kept: fixed by the stable window, whatever the length of the run. */
  get bucketCount(): number {
    return this.#buckets.capacity;
  }

  /** Record the observed concurrency (in-flight + queued requests) at `now` (ms). */
  record(now: number, concurrency: number): void {
    if (!Number.isFinite(now) || !Number.isFinite(concurrency) || concurrency < 0) return;
    this.#bornAt ??= now;
    this.#buckets.add(Math.floor(now / SECOND_MS), concurrency);
  }

  decide(input: ScaleInput): ScaleDecision {
    const { now, readyInstances, minInstances, maxInstances } = input;
    this.#bornAt ??= now;
    const target = input.perInstanceConcurrency * this.#targetUtilization;
    const nowSecond = Math.floor(now / SECOND_MS);
    const stableConcurrency = this.#buckets.average(nowSecond, this.#stableSeconds);
    const panicConcurrency = this.#buckets.average(nowSecond, this.#panicSeconds);
    const desiredStable = ceilRatio(stableConcurrency, target);
    const desiredPanic = ceilRatio(panicConcurrency, target);

    // From zero instances any demand is a burst relative to one instance's capacity (as Knative does).
    const capacity = Math.max(1, readyInstances) * target;
    const overThreshold = panicConcurrency > 0 && panicConcurrency / capacity >= this.#panicThreshold;
    if (overThreshold) {
      this.#panicSince ??= now;
      this.#lastConditionAt = now;
    } else if (this.#panicSince !== undefined && now - (this.#lastConditionAt ?? now) >= this.#stableWindowMs) {
      this.#panicSince = undefined;
      this.#lastConditionAt = undefined;
      this.#panicHigh = 0;
    }
    const panic = this.#panicSince !== undefined;

    let desired: number;
    let reason: string;
    if (panic) {
      desired = Math.max(readyInstances, desiredPanic, this.#panicHigh);
      reason = `panic: ${fmt(panicConcurrency)} concurrent over the panic window needs ${desiredPanic} at target ${fmt(target)}; no scale-down while panicking`;
    } else {
      desired = desiredStable;
      reason = `stable: ${fmt(stableConcurrency)} concurrent over the stable window needs ${desiredStable} at target ${fmt(target)}`;
    }

    if (desired > maxInstances) {
      desired = maxInstances;
      reason += `; capped at maxInstances ${maxInstances}`;
    }
    if (desired < minInstances) {
      desired = minInstances;
      reason += `; raised to minInstances ${minInstances}`;
    }
    if (panic) this.#panicHigh = Math.max(this.#panicHigh, desired);

    if (desired === 0) {
      const idleSince = input.lastRequestAt ?? this.#bornAt;
      const idleFor = now - idleSince;
      if (idleFor < input.idleTtlMs && Math.min(1, maxInstances) > 0) {
        if (input.lastRequestAt !== null) {
          desired = 1;
          reason = `no demand, but a request came ${fmt(idleFor)} ms ago (idle TTL ${input.idleTtlMs} ms): keeping one warm instance`;
        } else if (readyInstances > 0) {
          desired = 1;
          reason = `no demand and never used, but younger than the idle TTL ${input.idleTtlMs} ms: keeping one instance`;
        } else {
          reason = 'no demand and never used: nothing to start';
        }
      } else {
        reason = `no demand and idle for ${fmt(idleFor)} ms (idle TTL ${input.idleTtlMs} ms): scale to zero`;
      }
    }

    return { desired, panic, stableConcurrency, panicConcurrency, reason };
  }
}

function invalid(field: string, rule: string): never {
  throw new StratusError('INVALID_CONFIG', `autoscaler ${field} ${rule}`, { field });
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}
