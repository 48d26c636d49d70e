// GET /v1/functions/:name/logs: what a function's instances wrote, newest last, optionally only one
// invocation's lines (?requestId= the x-stratus-request-id of a call). Lines reach the store in batches,
// so the newest quarter second may not be there yet.

import express, { type Router } from 'express';
import type { Store } from '../../core/store/store.js';
import type { LogQuery } from '../../core/types.js';
import type { FunctionService } from '../function-service.js';
import { badQuery, QueryReader } from './query.js';

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
  const r = new QueryReader(q, KNOWN);
  const query: LogQuery = { limit: r.limit('limit', LOGS_MAX_LIMIT) ?? LOGS_DEFAULT_LIMIT };
  const requestId = r.one('requestId');
  if (requestId !== undefined) {
    if (requestId.length === 0 || requestId.length > 200) throw badQuery('requestId', '"requestId" must be the x-stratus-request-id of a call (1 to 200 characters)');
    query.requestId = requestId;
  }
  const since = r.time('since', '2030-01-01T12:00:00Z');
  if (since !== undefined) query.since = since;
  return query;
}
