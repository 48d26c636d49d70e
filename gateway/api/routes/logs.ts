// GET /v1/functions/:name/logs: what a function's instances wrote, newest last, optionally only one
// invocation's lines (?requestId= the x-stratus-request-id of a call). Lines reach the store in batches,
// so the newest quarter second may not be there yet.

import express, { type Router } from 'express';
import { z } from 'zod';
import type { Store } from '../../../core/store/store.js';
import type { LogQuery } from '../../../core/types.js';
import type { FunctionService } from '../../../control/functions/function-service.js';
import { limitParam, parseQuery, timeParam } from './query.js';

export const LOGS_DEFAULT_LIMIT = 100;
export const LOGS_MAX_LIMIT = 1000;

/** The query GET /v1/functions/:name/logs takes (also its description in the OpenAPI document). */
export const logQuerySchema = z.object({
  requestId: z.string().min(1, 'must be the x-stratus-request-id of a call (1 to 200 characters)').max(200, 'must be the x-stratus-request-id of a call (1 to 200 characters)').optional().meta({ description: 'only the lines of one call: its x-stratus-request-id' }),
  limit: limitParam(LOGS_MAX_LIMIT, `lines to answer, the newest (default ${LOGS_DEFAULT_LIMIT})`).optional(),
  since: timeParam('2030-01-01T12:00:00Z', 'only lines received after this time').optional(),
});

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
  const { requestId, limit, since } = parseQuery(logQuerySchema, q);
  return { limit: limit ?? LOGS_DEFAULT_LIMIT, ...(requestId === undefined ? {} : { requestId }), ...(since === undefined ? {} : { since }) };
}
