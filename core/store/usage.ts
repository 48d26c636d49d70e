// Metering: every invocation billed as the cloud bills it — its duration rounded up to the millisecond
// (the record's billedMs) times the function's configured memory — counted in exact integers, MB·ms, per
// function and UTC hour, with a request count and a failed count beside it. Both stores add it up in the
// same write as the invocation records (memory.ts, redis.ts through usage-memory.ts / usage-redis.ts), so
// metering costs no round trip of its own, and keep it longer than the records (400 days by default).
//
// What is billed: every record, so every attempt of an async invocation (each ran, as Lambda bills each
// retry). What is not billed twice: the same record written again (the writer retries a batch whose write
// may have gone through before the connection broke). Each record carries a billing mark — its attempt,
// its start and its id — that the store keeps for the records' own retention; a record whose mark is there
// already adds nothing. A re-run of the same attempt (a stalled job taken over) has another start: billed.

import type { InvocationRecord } from './invocations.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** How long hourly usage is kept when nothing else is configured: over a year, like a cloud bill's history. */
export const DEFAULT_USAGE_MAX_AGE_MS = 400 * DAY_MS;

/** One function's usage in one UTC hour, as a store keeps it. */
export interface UsageRow {
  function: string;
  /** The hour's start, ms since the epoch. */
  hour: number;
  requests: number;
  /** Of those, the records with outcome 'failed' (billed too). */
  failed: number;
  /** Σ billedMs × memoryMb: exact, a bigint because a long sum may pass 2^53. */
  mbMs: bigint;
}

/** Hours [fromMs, toMs) of one function, or of every function with usage in them. */
export interface UsageRange {
  function?: string;
  fromMs: number;
  toMs: number;
}

/** What one record adds to the usage, and the mark that keeps it from being added twice. */
export interface Metered {
  function: string;
  hour: number;
  mark: string;
  /** An integer (a store adds it with HINCRBY); 15 min × 10 GB is 9.2·10^9, far below 2^53. */
  mbMs: number;
  failed: boolean;
}

export function meter(r: InvocationRecord): Metered {
  const startMs = Date.parse(r.start);
  // Integers whatever a data plane sent: a fraction would make the whole batch's HINCRBY fail, and the
  // writer would retry it for ever. billedMs is already whole and at least 1; this only enforces it.
  // billedMs 0: the function never ran (a throttle): a request, no time.
  const billed = r.billedMs === 0 ? 0 : Math.max(1, Math.ceil(r.billedMs));
  const memory = Math.max(0, Math.ceil(r.memoryMb));
  return {
    function: r.function,
    hour: Math.floor(startMs / HOUR_MS) * HOUR_MS,
    // The id last: it is the only part that could hold a ":".
    mark: `${r.attempt ?? 0}:${startMs}:${r.id}`,
    mbMs: billed * memory,
    failed: r.outcome === 'failed',
  };
}

/** "2030-01-02" of a time (UTC): the day a usage key holds. */
export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
/** "07" of a time (UTC): the hour's field within its day. */
export const hourOfDay = (ms: number): string => new Date(ms).toISOString().slice(11, 13);

/** The UTC days touching [fromMs, toMs), as the start of each. */
export function daysIn(fromMs: number, toMs: number): number[] {
  const days: number[] = [];
  for (let d = Math.floor(fromMs / DAY_MS) * DAY_MS; d < toMs; d += DAY_MS) days.push(d);
  return days;
}

/** Adds a row to a map keyed by function and hour (both stores read through this). */
export function addRow(rows: Map<string, UsageRow>, fn: string, hour: number, add: { requests: number; failed: number; mbMs: bigint }): void {
  const key = `${fn}\u0000${hour}`;
  const row = rows.get(key);
  if (row) {
    row.requests += add.requests;
    row.failed += add.failed;
    row.mbMs += add.mbMs;
  } else rows.set(key, { function: fn, hour, ...add });
}

/** Rows in a stable order: by function, then hour. */
export function sortRows(rows: Iterable<UsageRow>): UsageRow[] {
  return [...rows].sort((a, b) => (a.function < b.function ? -1 : a.function > b.function ? 1 : a.hour - b.hour));
}
