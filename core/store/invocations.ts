// Invocation records: one per invocation, sync (function URL) or async (queue), whatever data plane served
// it. Both stores keep them the same way (test/unit/store-contract.test.ts): per function, newest first,
// bounded by count and by age; one record per id (an async invocation's later attempt replaces its record).

/** How an invocation came: a function URL call, an async call, or (through the async path) a trigger. */
export const INVOCATION_TRIGGERS = ['http', 'async', 'cron', 'storage'] as const;
export type InvocationTrigger = (typeof INVOCATION_TRIGGERS)[number];

/** How an invocation ended: 'succeeded' (an answer below 500), or 'failed' (5xx, crash, timeout…). */
export const INVOCATION_OUTCOMES = ['succeeded', 'failed'] as const;
export type InvocationOutcome = (typeof INVOCATION_OUTCOMES)[number];

export interface InvocationRecord {
  /** The request id (sync) or the invocation id (async): the key of its log lines too. */
  id: string;
  function: string;
  version: number;
  trigger: InvocationTrigger;
  /** ISO time the invocation arrived (sync) or its attempt started (async). */
  start: string;
  durationMs: number;
  /** What the caller or the queue got: the function's status, or the platform's (502, 504…); 0 when none. */
  statusCode: number;
  outcome: InvocationOutcome;
  /** Duration in whole ms, rounded up (at least 1): what a metered platform would bill; 0 when the function never ran (NEVER_RAN). */
  billedMs: number;
  memoryMb: number;
  /** The platform's error code when the platform answered instead of the function (FUNCTION_TIMEOUT…). */
  error?: string;
  /** Async only: the attempt this record is of (1-based). */
  attempt?: number;
}

export interface InvocationQuery {
  outcome?: InvocationOutcome;
  trigger?: InvocationTrigger;
  /** Only records that started before this ISO time (paging: pass the last record's start). */
  before?: string;
  limit?: number;
}

export interface InvocationRetention {
  /** Records kept per function; older ones are dropped. */
  maxPerFunction: number;
  /** Records older than this are dropped. */
  maxAgeMs: number;
  /** How long the hourly usage metered from them is kept (usage.ts); default DEFAULT_USAGE_MAX_AGE_MS. */
  usageMaxAgeMs?: number;
}

export const DEFAULT_RETENTION: InvocationRetention = { maxPerFunction: 1000, maxAgeMs: 7 * 24 * 3600 * 1000 };
export const DEFAULT_INVOCATION_LIMIT = 100;

/** The query applied to one function's kept records (any order in), newest first out, the same way by every store. */
export function selectInvocations(records: InvocationRecord[], q: InvocationQuery = {}): InvocationRecord[] {
  const matching = records.filter((r) => (q.outcome === undefined || r.outcome === q.outcome) && (q.trigger === undefined || r.trigger === q.trigger) && (q.before === undefined || r.start < q.before));
  matching.sort((a, b) => (a.start < b.start ? 1 : a.start > b.start ? -1 : 0));
  return matching.slice(0, q.limit ?? DEFAULT_INVOCATION_LIMIT);
}

/** Duration in ms as billed: whole ms, rounded up, at least 1. */
export const billedMs = (durationMs: number): number => Math.max(1, Math.ceil(durationMs));

/**
 * Platform answers given before the function ran at all — throttled, backing off, shutting down, or no
 * instance could start: like a cloud's throttles, such a call is recorded (as a request) but bills no time.
 */
export const NEVER_RAN: ReadonlySet<string> = new Set(['TOO_MANY_REQUESTS', 'FUNCTION_UNAVAILABLE', 'SHUTTING_DOWN', 'INSTANCE_START_FAILED']);
