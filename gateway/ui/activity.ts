// The dashboard's last hour, in memory: per function a ring of 10-second buckets (calls, errors, a latency
// histogram, cold starts, instances), fed by the invocation-record sink as calls end — no store read per
// call — and by a sampler every few seconds for what records do not carry (instances, the cold-start
// counter). Latency percentiles come from a log-scale histogram per bucket (15 % wide bins: a percentile
// is within about 7 % of the exact figure), so a bucket costs the same at 1 call or 10,000. A bucket's
// histogram is made only when a call lands in it: an idle function costs a few numbers. Each replica
// shows what it served itself.

import { Closeable, type Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { InvocationRecord } from '../../core/store/invocations.js';

export const BUCKET_MS = 10_000;
export const BUCKETS = 360; // one hour
const MIN_MS = 0.1;
const RATIO = 1.15;
const BINS = 120; // 0.1 ms · 1.15^120 ≈ 19 min: past the longest timeout (15 min)
const LOG_RATIO = Math.log(RATIO);

interface Bucket {
  /** Bucket number (time / BUCKET_MS). */
  n: number;
  calls: number;
  errors: number;
  cold: number;
  instances: number | null;
  hist: Uint32Array | null;
}

/** One chart's worth: times (s since epoch, for uPlot) and one array per series, null where nothing was seen. */
export interface Series {
  t: number[];
  rate: number[];
  errors: number[];
  p50: (number | null)[];
  p95: (number | null)[];
  p99: (number | null)[];
  cold: number[];
  instances: (number | null)[];
}

export interface Summary {
  calls: number;
  perSecond: number;
  errorRate: number | null;
  p50: number | null;
  p99: number | null;
}

const bin = (ms: number) => (ms <= MIN_MS ? 0 : Math.min(BINS - 1, Math.floor(Math.log(ms / MIN_MS) / LOG_RATIO)));
/** The geometric middle of a bin: the figure a percentile falling in it is shown as. */
const binValue = (i: number) => MIN_MS * RATIO ** (i + 0.5);

export function percentile(hist: Uint32Array, q: number): number | null {
  let total = 0;
  for (const c of hist) total += c;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return binValue(i);
  }
  return binValue(hist.length - 1);
}

class FunctionActivity {
  readonly ring: (Bucket | undefined)[] = new Array(BUCKETS);
  lastColdCount: number | null = null;

  bucket(n: number): Bucket {
    const i = n % BUCKETS;
    let b = this.ring[i];
    if (!b || b.n !== n) this.ring[i] = b = { n, calls: 0, errors: 0, cold: 0, instances: null, hist: null };
    return b;
  }

  /** The kept bucket numbered n, if it is still the one in its slot. */
  at(n: number): Bucket | undefined {
    const b = this.ring[n % BUCKETS];
    return b && b.n === n ? b : undefined;
  }
}

export interface ActivitySampler {
  /** Every function that exists now (a store read every few seconds, not per call). */
  functions(): Promise<string[]>;
  instances(fn: string): number;
  /** The cold-start counter's total for a function (it only grows; a drop means it was reset). */
  coldStarts(fn: string): number;
}

export class Activity extends Closeable {
  readonly #fns = new Map<string, FunctionActivity>();
  #timer: NodeJS.Timeout | null = null;
  #sampling = false;

  constructor(private readonly clock: Clock, private readonly logger?: Logger) {
    super();
  }

  record(r: InvocationRecord): void {
    if (this.closed) return;
    const b = this.#of(r.function).bucket(Math.floor(this.clock.now() / BUCKET_MS));
    b.calls++;
    if (r.outcome === 'failed') b.errors++;
    (b.hist ??= new Uint32Array(BINS))[bin(r.durationMs)]!++;
  }

  /** Samples instances and cold starts every `everyMs` (and once now). */
  sample(sampler: ActivitySampler, everyMs = 5000): void {
    const run = () => {
      if (this.#sampling || this.closed) return;
      this.#sampling = true;
      this.sampleOnce(sampler)
        .catch((err: unknown) => this.logger?.warn('dashboard sampling failed', { err }))
        .finally(() => (this.#sampling = false));
    };
    this.#timer = setInterval(run, everyMs);
    this.#timer.unref();
    run();
  }

  async sampleOnce(sampler: ActivitySampler): Promise<void> {
    const names = new Set(await sampler.functions());
    // A deleted function's hour goes with it.
    for (const name of this.#fns.keys()) if (!names.has(name)) this.#fns.delete(name);
    const n = Math.floor(this.clock.now() / BUCKET_MS);
    for (const name of names) {
      const fa = this.#of(name);
      const b = fa.bucket(n);
      b.instances = Math.max(b.instances ?? 0, sampler.instances(name));
      const total = sampler.coldStarts(name);
      if (fa.lastColdCount !== null && total > fa.lastColdCount) b.cold += total - fa.lastColdCount;
      fa.lastColdCount = total;
    }
  }

  /** The last hour of one function, or of all together (fn = null), one point per bucket. */
  series(fn: string | null): Series {
    const now = Math.floor(this.clock.now() / BUCKET_MS);
    const sources = fn === null ? [...this.#fns.values()] : [this.#fns.get(fn)].filter((f): f is FunctionActivity => f !== undefined);
    const s: Series = { t: [], rate: [], errors: [], p50: [], p95: [], p99: [], cold: [], instances: [] };
    for (let n = now - BUCKETS + 1; n <= now; n++) {
      let calls = 0, errors = 0, cold = 0;
      let instances: number | null = null;
      const hist = new Uint32Array(BINS);
      for (const f of sources) {
        const b = f.at(n);
        if (!b) continue;
        calls += b.calls;
        errors += b.errors;
        cold += b.cold;
        if (b.instances !== null) instances = (instances ?? 0) + b.instances;
        if (b.hist) for (let i = 0; i < BINS; i++) hist[i]! += b.hist[i]!;
      }
      s.t.push((n * BUCKET_MS) / 1000);
      s.rate.push(calls / (BUCKET_MS / 1000));
      s.errors.push(errors);
      s.p50.push(percentile(hist, 0.5));
      s.p95.push(percentile(hist, 0.95));
      s.p99.push(percentile(hist, 0.99));
      s.cold.push(cold);
      s.instances.push(instances);
    }
    return s;
  }

  /** Calls, rate, error rate and percentiles of the last `windowMs` (the functions list's columns). */
  summary(fn: string, windowMs = 5 * 60_000): Summary {
    const f = this.#fns.get(fn);
    const now = Math.floor(this.clock.now() / BUCKET_MS);
    const hist = new Uint32Array(BINS);
    let calls = 0, errors = 0;
    const span = Math.max(1, Math.round(windowMs / BUCKET_MS));
    for (let n = now - span + 1; f && n <= now; n++) {
      const b = f.at(n);
      if (!b) continue;
      calls += b.calls;
      errors += b.errors;
      if (b.hist) for (let i = 0; i < BINS; i++) hist[i]! += b.hist[i]!;
    }
    return { calls, perSecond: calls / (span * BUCKET_MS / 1000), errorRate: calls === 0 ? null : errors / calls, p50: percentile(hist, 0.5), p99: percentile(hist, 0.99) };
  }

  protected override async doClose(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#fns.clear();
  }

  #of(fn: string): FunctionActivity {
    let f = this.#fns.get(fn);
    if (!f) this.#fns.set(fn, (f = new FunctionActivity()));
    return f;
  }
}
