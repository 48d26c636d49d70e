// GET /v1/functions/:name/logs: what a function's instances wrote, newest last, optionally only one
// invocation's lines (?requestId= the x-stratus-request-id of a call). Lines reach the store in batches,
// so the newest quarter second may not be there yet.

import express, { type Router } from 'express';
import { StratusError } from '../../core/errors.js';
import type { Store } from '../../core/store/store.js';
import type { LogQuery } from '../../core/types.js';
import type { FunctionService } from '../function-service.js';

export const LOGS_DEFAULT_LIMIT = 100;
export const LOGS_MAX_LIMIT = 1000;
const KNOWN = new Set(['requestId', 'limit', 'since']);

export function logsRouter(deps: { service: Pick<FunctionService, 'get'>; store: Pick<Store, 'readLogs'> }): Router {
  const router = express.Router();
  router.get('/functions/:name/logs', async (req, res) => {
    const name = String(req.params.name);
    const query = parseLogQuery(req.query as Record<string, unknown>);
    await deps.service.get(name); // 404 for an unknown function rather than an empty list
    res.json({ logs: await deps.store.readLogs(name, query) });
  });
  return router;
}

export function parseLogQuery(q: Record<string, unknown>): LogQuery {
  for (const key of Object.keys(q)) {
    if (!KNOWN.has(key)) throw bad(key, `unknown query parameter "${key}"; use requestId, limit or since`);
  }
  const one = (key: string): string | undefined => {
    const v = q[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw bad(key, `give "${key}" once, as a plain value`);
    return v;
  };
  const query: LogQuery = { limit: LOGS_DEFAULT_LIMIT };
  const limit = one('limit');
  if (limit !== undefined) {
    const n = /^\d{1,7}$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= LOGS_MAX_LIMIT)) throw bad('limit', `"limit" must be a whole number from 1 to ${LOGS_MAX_LIMIT}`);
    query.limit = n;
  }
  const requestId = one('requestId');
  if (requestId !== undefined) {
    if (requestId.length === 0 || requestId.length > 200) throw bad('requestId', '"requestId" must be the x-stratus-request-id of a call (1 to 200 characters)');
    query.requestId = requestId;
  }
  const since = one('since');
  if (since !== undefined) {
    const t = Date.parse(since);
    if (Number.isNaN(t)) throw bad('since', '"since" must be an ISO 8601 time, e.g. 2030-01-01T12:00:00Z');
    query.since = new Date(t).toISOString();
  }
  return query;
}

function bad(key: string, message: string): StratusError {
  return new StratusError('INVALID_REQUEST', message, { field: `query.${key}` });
}
