// Notifications API: every delivery of an event to a channel, with each attempt (time, duration, the
// receiver's status code or the error, when the next one is due), newest first.

import express, { type Router } from 'express';
import { z } from 'zod';
import { StratusError } from '../../../core/errors.js';
import { FUNCTION_NAME } from '../../../core/function-config.js';
import { DELIVERY_STATUSES, DELIVERIES_KEPT, type DeliveryLog, type DeliveryQuery } from '../../../services/notify/deliveries.js';
import { limitParam, oneOfParam, parseQuery } from './query.js';

const DEFAULT_LIMIT = 100;

/** The query GET /v1/notifications takes (also its description in the OpenAPI document). */
export const deliveryQuerySchema = z.object({
  // Not looked up: the deliveries of a deleted function stay listed until they expire.
  function: z.string().regex(FUNCTION_NAME, 'must be a function name (a-z, 0-9, "-", starting with a letter)').optional().meta({ description: 'only deliveries about this function' }),
  status: oneOfParam(DELIVERY_STATUSES, 'only deliveries in this state').optional(),
  limit: limitParam(DELIVERIES_KEPT, `deliveries to answer, newest first (default ${DEFAULT_LIMIT})`).optional(),
});

export function notificationsRouter(deliveries: DeliveryLog): Router {
  const router = express.Router();

  router.get('/notifications', async (req, res) => {
    res.json({ deliveries: await deliveries.list(parseDeliveryQuery(req.query as Record<string, unknown>)) });
  });

  router.get('/notifications/:id', async (req, res) => {
    const id = String(req.params.id);
    const found = await deliveries.get(id);
    if (!found) throw new StratusError('NOT_FOUND', `no notification delivery ${id}; deliveries are kept for 7 days, list them with GET /v1/notifications`);
    res.json(found);
  });

  return router;
}

export function parseDeliveryQuery(q: Record<string, unknown>): DeliveryQuery {
  const { function: fn, status, limit } = parseQuery(deliveryQuerySchema, q);
  return { limit: limit ?? DEFAULT_LIMIT, ...(fn === undefined ? {} : { function: fn }), ...(status === undefined ? {} : { status }) };
}
