// Notifications API: every delivery of an event to a channel, with each attempt (time, duration, the
// receiver's status code or the error, when the next one is due), newest first.

import express, { type Router } from 'express';
import { StratusError } from '../../core/errors.js';
import { FUNCTION_NAME } from '../../core/function-config.js';
import { DELIVERY_STATUSES, DELIVERIES_KEPT, type DeliveryLog, type DeliveryQuery } from '../notify/deliveries.js';
import { badQuery, QueryReader } from './query.js';

const DEFAULT_LIMIT = 100;
const KNOWN = new Set(['function', 'status', 'limit']);

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
  const r = new QueryReader(q, KNOWN);
  const query: DeliveryQuery = { limit: r.limit('limit', DELIVERIES_KEPT) ?? DEFAULT_LIMIT };
  const fn = r.one('function');
  if (fn !== undefined) {
    // Not looked up: the deliveries of a deleted function stay listed until they expire.
    if (!FUNCTION_NAME.test(fn)) throw badQuery('function', '"function" must be a function name (a-z, 0-9, "-", starting with a letter)');
    query.function = fn;
  }
  const status = r.oneOf('status', DELIVERY_STATUSES);
  if (status !== undefined) query.status = status;
  return query;
}
