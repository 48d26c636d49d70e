// The usage answer (GET /v1/usage) from a store's hourly rows: buckets of an hour or a UTC day, totals per
// function and overall, and cost from an optional price table. Everything is computed from the exact
// integers: MB·ms as BigInt, GB-seconds as the exact decimal (1 GB-s = 1024 MB × 1000 ms, and
// 1 / 1,024,000 = 5^10 / 10^13, so every figure has at most 13 decimals: a string, never a rounded float),
// cost rounded once, half up, to COST_DECIMALS from the exact fraction.

import { StratusError } from '../errors.js';
import { DAY_MS, HOUR_MS, type UsageRow } from './usage.js';

export const GRANULARITIES = ['hour', 'day'] as const;
export type Granularity = (typeof GRANULARITIES)[number];
export const BUCKET_MS: Record<Granularity, number> = { hour: HOUR_MS, day: DAY_MS };

/** Cost is given to a billionth of the price's currency (as Google's Money type carries nanos). */
export const COST_DECIMALS = 9;

/** Prices as decimal strings (core/config.ts checks them): per GB-second, per million requests. */
export interface Price {
  perGbSecond: string;
  perMillionRequests: string;
}

export interface Cost {
  compute: string;
  requests: string;
  /** compute + requests, rounded once from the exact sum (so it may differ from the rounded parts' sum by 1e-9). */
  total: string;
}

export interface Figures {
  requests: number;
  failed: number;
  /** Σ billedMs × memoryMb, exact. */
  mbMs: number;
  /** mbMs / 1024 / 1000 as an exact decimal string. */
  gbSeconds: string;
  cost?: Cost;
}

export interface UsageReport {
  granularity: Granularity;
  from: string;
  to: string;
  price: (Price & { costDecimals: number }) | null;
  functions: Array<{ function: string; buckets: Array<{ start: string } & Figures>; total: Figures }>;
  total: Figures;
}

interface Sum {
  requests: number;
  failed: number;
  mbMs: bigint;
}

export function usageReport(rows: UsageRow[], q: { granularity: Granularity; fromMs: number; toMs: number }, price: Price | null): UsageReport {
  const size = BUCKET_MS[q.granularity];
  const byFunction = new Map<string, Map<number, Sum>>();
  for (const r of rows) {
    let buckets = byFunction.get(r.function);
    if (!buckets) byFunction.set(r.function, (buckets = new Map()));
    const start = Math.floor(r.hour / size) * size;
    const b = buckets.get(start) ?? { requests: 0, failed: 0, mbMs: 0n };
    buckets.set(start, add(b, r));
  }
  const figures = figuresWith(price === null ? null : { gbs: decimal(price.perGbSecond), million: decimal(price.perMillionRequests) });
  let total: Sum = { requests: 0, failed: 0, mbMs: 0n };
  const functions = [...byFunction.keys()].sort().map((fn) => {
    const buckets = [...byFunction.get(fn)!].sort(([a], [b]) => a - b);
    const sum = buckets.reduce<Sum>((s, [, b]) => add(s, b), { requests: 0, failed: 0, mbMs: 0n });
    total = add(total, sum);
    return { function: fn, buckets: buckets.map(([start, b]) => ({ start: new Date(start).toISOString(), ...figures(b) })), total: figures(sum) };
  });
  return {
    granularity: q.granularity,
    from: new Date(q.fromMs).toISOString(),
    to: new Date(q.toMs).toISOString(),
    price: price && { ...price, costDecimals: COST_DECIMALS },
    functions,
    total: figures(total),
  };
}

const add = (a: Sum, b: Sum): Sum => ({ requests: a.requests + b.requests, failed: a.failed + b.failed, mbMs: a.mbMs + b.mbMs });

/** A decimal string as units / scale (10^decimals). */
interface Decimal {
  units: bigint;
  scale: bigint;
}

function decimal(s: string): Decimal {
  const [whole, frac = ''] = s.split('.');
  return { units: BigInt(whole! + frac), scale: 10n ** BigInt(frac.length) };
}

const MB_MS_PER_GB_S = 1024n * 1000n;
const NANO = 10n ** BigInt(COST_DECIMALS);

function figuresWith(price: { gbs: Decimal; million: Decimal } | null): (s: Sum) => Figures {
  return (s) => {
    const f: Figures = { requests: s.requests, failed: s.failed, mbMs: exactNumber(s.mbMs), gbSeconds: fixed(s.mbMs * 9_765_625n, 13) };
    if (price === null) return f;
    const req = BigInt(s.requests);
    // compute = mbMs × P / (1,024,000 × scaleP); requests = n × Q / (1,000,000 × scaleQ): one denominator for the total.
    const computeDen = MB_MS_PER_GB_S * price.gbs.scale;
    const requestsDen = 1_000_000n * price.million.scale;
    const computeNum = s.mbMs * price.gbs.units;
    const requestsNum = req * price.million.units;
    f.cost = {
      compute: fixed(roundHalfUp(computeNum * NANO, computeDen), COST_DECIMALS),
      requests: fixed(roundHalfUp(requestsNum * NANO, requestsDen), COST_DECIMALS),
      total: fixed(roundHalfUp((computeNum * requestsDen + requestsNum * computeDen) * NANO, computeDen * requestsDen), COST_DECIMALS),
    };
    return f;
  };
}

/** num / den rounded to the nearest integer, halves up (both non-negative). */
const roundHalfUp = (num: bigint, den: bigint): bigint => (2n * num + den) / (2n * den);

/** An integer of 10^-decimals units as a decimal string, trailing zeros of the fraction dropped ("0.00625", "3"). */
function fixed(units: bigint, decimals: number): string {
  const digits = units.toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const frac = digits.slice(digits.length - decimals).replace(/0+$/, '');
  return frac === '' ? whole : `${whole}.${frac}`;
}

/** JSON numbers are exact to 2^53 (8.8 billion GB-s); past that, a narrower question rather than a wrong figure. */
function exactNumber(n: bigint): number {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new StratusError('INVALID_REQUEST', 'the usage asked for passes 2^53 MB·ms, more than a JSON number holds exactly; ask for one function or a shorter range', { field: 'query.from' });
  }
  return Number(n);
}
