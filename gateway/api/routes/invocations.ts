// Invocations API: submit an async invocation, see one (async: its queue status; any: its record), its log
// lines, a function's records, its dead letters and their replay.

import express, { type Router } from 'express';
import { z } from 'zod';
import { StratusError } from '../../../core/errors.js';
import { DEFAULT_INVOCATION_LIMIT, INVOCATION_OUTCOMES, INVOCATION_TRIGGERS, type InvocationQuery, type InvocationRecord } from '../../../core/store/invocations.js';
import type { Store } from '../../../core/store/store.js';
import type { AsyncView } from '../../../control/invocations/async-queue.js';
import { invocationLinks, MAX_ASYNC_PAYLOAD_BYTES, type AsyncInvocations } from '../../../control/invocations/async-invocations.js';
import { ADMIN, scopedIdempotencyKey } from '../../../control/invocations/idempotency.js';
import type { FunctionService } from '../../../control/functions/function-service.js';
import { idempotencyKey } from '../../http/idempotency-header.js';
import { limitParam, oneOfParam, parseQuery, timeParam } from './query.js';

const MAX_LIMIT = 1000;
const json = express.json({ limit: MAX_ASYNC_PAYLOAD_BYTES, strict: false, type: () => true });

export interface InvocationsRouterDeps {
  service: Pick<FunctionService, 'get'>;
  store: Pick<Store, 'listInvocations' | 'getInvocation' | 'readLogs'>;
  async: AsyncInvocations;
}

export function invocationsRouter(deps: InvocationsRouterDeps): Router {
  const router = express.Router();

  router.post('/functions/:name/invocations', json, async (req, res) => {
    const name = String(req.params.name);
    // An empty body is an event without data; express.json leaves req.body undefined then. Behind the admin
    // key: its Idempotency-Keys are the admin's, apart from any function URL caller's
    // (control/invocations/idempotency.ts).
    const key = idempotencyKey(req);
    const submitted = await deps.async.submit(name, req.body ?? null, key === undefined ? {} : { idempotencyKey: scopedIdempotencyKey(ADMIN, key) });
    res.status(202).location(submitted.links.self).json({ id: submitted.id, status: submitted.status, duplicate: submitted.duplicate, links: submitted.links });
  });

  router.get('/invocations/:id', async (req, res) => {
    const id = String(req.params.id);
    const [job, record] = await Promise.all([deps.async.queue.get(id), deps.store.getInvocation(id)]);
    if (!job && !record) throw new StratusError('NOT_FOUND', `no invocation ${id}; records are kept for a bounded time`);
    res.json(job ? { ...job, record, links: invocationLinks(job.function, id) } : fromRecord(record!));
  });

  router.get('/invocations/:id/logs', async (req, res) => {
    const id = String(req.params.id);
    const [job, record] = await Promise.all([deps.async.queue.get(id), deps.store.getInvocation(id)]);
    const fn = job?.function ?? record?.function;
    if (!fn) throw new StratusError('NOT_FOUND', `no invocation ${id}; records are kept for a bounded time`);
    res.json({ logs: await deps.store.readLogs(fn, { requestId: id, limit: MAX_LIMIT }) });
  });

  router.get('/functions/:name/invocations', async (req, res) => {
    const name = String(req.params.name);
    const query = parseInvocationQuery(req.query as Record<string, unknown>);
    await deps.service.get(name);
    res.json({ invocations: await deps.store.listInvocations(name, query) });
  });

  router.get('/functions/:name/dead-letters', async (req, res) => {
    const name = String(req.params.name);
    await deps.service.get(name);
    res.json({ deadLetters: await deps.async.queue.deadLetters(name) });
  });

  router.post('/functions/:name/dead-letters/replay', async (req, res) => {
    const name = String(req.params.name);
    await deps.service.get(name);
    res.status(202).json({ replayed: await deps.async.queue.replay(name) });
  });

  router.post('/functions/:name/dead-letters/:id/replay', async (req, res) => {
    const name = String(req.params.name);
    const id = String(req.params.id);
    await deps.service.get(name);
    const replayed = await deps.async.queue.replay(name, id);
    if (replayed.length === 0) throw new StratusError('NOT_FOUND', `${id} is not a dead letter of ${name}; see GET /v1/functions/${name}/dead-letters`);
    res.status(202).json({ replayed, links: invocationLinks(name, id) });
  });

  return router;
}

/** A sync invocation (or an async one whose job has expired) seen through its record. */
function fromRecord(r: InvocationRecord): Partial<Omit<AsyncView, 'trigger'>> & Record<string, unknown> {
  return { id: r.id, function: r.function, trigger: r.trigger, status: r.outcome, attempts: r.attempt ?? 1, record: r, links: invocationLinks(r.function, r.id) };
}

/** The query of GET /v1/functions/:name/invocations (also its description in the OpenAPI document). */
export const invocationQuerySchema = z.object({
  status: oneOfParam(INVOCATION_OUTCOMES, 'only records with this outcome').optional(),
  trigger: oneOfParam(INVOCATION_TRIGGERS, 'only records of calls that came this way').optional(),
  limit: limitParam(MAX_LIMIT, `records to answer, newest first (default ${DEFAULT_INVOCATION_LIMIT})`).optional(),
  before: timeParam('2030-01-01T12:00:00Z', 'only records that started before this time: for the next page, the start of the last record of this one').optional(),
});

export function parseInvocationQuery(q: Record<string, unknown>): InvocationQuery {
  const { status, trigger, limit, before } = parseQuery(invocationQuerySchema, q);
  return { limit: limit ?? DEFAULT_INVOCATION_LIMIT, ...(status === undefined ? {} : { outcome: status }), ...(trigger === undefined ? {} : { trigger }), ...(before === undefined ? {} : { before }) };
}
