// GET /v1/usage: metered usage (core/store/usage.ts) per function in hour or UTC-day buckets, with totals and,
// when a price table is configured, cost. A function need not exist any more: a deleted one's usage stays.

import express, { type Router } from 'express';
import { z } from 'zod';
import type { Clock } from '../../../core/lifecycle.js';
import { FUNCTION_NAME } from '../../../core/function-config.js';
import type { Store } from '../../../core/store/store.js';
import { BUCKET_MS, GRANULARITIES, usageReport, type Granularity, type Price } from '../../../core/store/usage-report.js';
import { badQuery, oneOfParam, parseQuery, timeParam } from './query.js';

/** Without from: the last day in hours, the last 30 days in days. */
const DEFAULT_SPAN_MS: Record<Granularity, number> = { hour: 24 * BUCKET_MS.hour, day: 30 * BUCKET_MS.day };

export interface UsageRouterDeps {
  store: Pick<Store, 'readUsage'>;
  clock: Clock;
  usage: { maxAgeMs: number; price: Price | null };
}

export interface UsageQuery {
  function?: string;
  granularity: Granularity;
  fromMs: number;
  toMs: number;
}

export function usageRouter(deps: UsageRouterDeps): Router {
  const router = express.Router();
  router.get('/usage', async (req, res) => {
    const q = parseUsageQuery(req.query as Record<string, unknown>, deps.clock.now(), deps.usage.maxAgeMs);
    const rows = q.fromMs < q.toMs ? await deps.store.readUsage({ fromMs: q.fromMs, toMs: q.toMs, ...(q.function === undefined ? {} : { function: q.function }) }) : [];
    res.json(usageReport(rows, q, deps.usage.price));
  });
  return router;
}

/** The query GET /v1/usage takes (also its description in the OpenAPI document). */
export const usageQuerySchema = z.object({
  // Not looked up: a deleted function's usage stays.
  function: z.string().regex(FUNCTION_NAME, 'must be a function name (a-z, 0-9, "-", starting with a letter, at most 63 characters)').optional().meta({ description: 'only this function\'s usage' }),
  from: timeParam('2030-01-01T00:00:00Z', 'the range\'s start, widened to a whole bucket (default: a day before `to` in hours, 30 days in days)').optional(),
  to: timeParam('2030-01-31T00:00:00Z', 'the range\'s end, widened to a whole bucket (default: now)').optional(),
  granularity: oneOfParam(GRANULARITIES, 'bucket size: hour or UTC day (default hour)').optional(),
});

/**
 * from and to are widened to whole buckets (from down, to up) and kept within what can hold usage: not
 * before the retention, not after the current bucket — so a read is bounded whatever is asked. The answer
 * says which range it covers.
 */
export function parseUsageQuery(query: Record<string, unknown>, now: number, maxAgeMs: number): UsageQuery {
  const { function: fn, granularity = 'hour', from, to } = parseQuery(usageQuerySchema, query);
  const size = BUCKET_MS[granularity];
  const toMs = to === undefined ? now : Date.parse(to);
  const fromMs = from === undefined ? toMs - DEFAULT_SPAN_MS[granularity] : Date.parse(from);
  if (fromMs >= toMs) throw badQuery('from', `"from" must be before "to" (${new Date(toMs).toISOString()})`);
  const floor = (ms: number) => Math.floor(ms / size) * size;
  // Both within [the retention's first bucket, the current bucket's end]: a range wholly outside is empty there.
  const lo = floor(now - maxAgeMs);
  const hi = floor(now) + size;
  const within = (ms: number) => Math.min(hi, Math.max(lo, ms));
  return { ...(fn === undefined ? {} : { function: fn }), granularity, fromMs: within(floor(fromMs)), toMs: within(floor(toMs + size - 1)) };
}
