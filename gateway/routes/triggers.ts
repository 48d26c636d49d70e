// Triggers and invoke keys over the API (admin key, like the rest of /v1):
//   POST/GET /v1/functions/:name/triggers, GET/DELETE /v1/functions/:name/triggers/:id, GET /v1/triggers
//   POST/GET /v1/functions/:name/keys, DELETE /v1/functions/:name/keys/:id
// Parsing only; what a trigger means lives in gateway/triggers/.

import express, { type Router } from 'express';
import { StratusError } from '../../core/errors.js';
import { TRIGGER_TYPES, type TriggerRecord } from '../../core/triggers.js';
import type { InvokeKeyRecord } from '../../core/store/triggers.js';
import { INVOKE_KEY_HEADER, type TriggerService } from '../triggers/trigger-service.js';
import { QueryReader } from './query.js';

const json = express.json({ limit: '256kb' });

const withLinks = (t: TriggerRecord) => ({ ...t, links: { self: `/v1/functions/${t.function}/triggers/${t.id}`, function: `/v1/functions/${t.function}` } });
/** A key as listings show it: never its hash. */
const keyView = ({ sha256: _hash, ...k }: InvokeKeyRecord) => k;

export function triggersRouter(triggers: TriggerService): Router {
  const router = express.Router();
  const name = (req: express.Request) => String(req.params.name);

  router.post('/functions/:name/triggers', json, async (req, res) => {
    if (!req.is('application/json')) throw new StratusError('UNSUPPORTED_MEDIA_TYPE', 'send the trigger as application/json, e.g. {"type":"cron","schedule":"*/5 * * * *"}', { field: 'content-type' });
    const t = await triggers.create(name(req), req.body);
    res.status(201).location(`/v1/functions/${t.function}/triggers/${t.id}`).json(withLinks(t));
  });

  router.get('/functions/:name/triggers', async (req, res) => {
    res.json({ triggers: (await triggers.list(name(req))).map(withLinks) });
  });

  router.get('/functions/:name/triggers/:id', async (req, res) => {
    res.json(withLinks(await triggers.get(name(req), String(req.params.id))));
  });

  router.delete('/functions/:name/triggers/:id', async (req, res) => {
    await triggers.remove(name(req), String(req.params.id));
    res.status(204).end();
  });

  router.get('/triggers', async (req, res) => {
    const q = new QueryReader(req.query as Record<string, unknown>, new Set(['type']));
    const type = q.oneOf('type', TRIGGER_TYPES);
    const all = await triggers.listAll();
    res.json({ triggers: all.filter((t) => type === undefined || t.type === type).map(withLinks) });
  });

  router.post('/functions/:name/keys', json, async (req, res) => {
    const body: unknown = req.body ?? {};
    const keyName = typeof body === 'object' && body !== null && 'name' in body ? (body as { name: unknown }).name : undefined;
    if (keyName !== undefined && (typeof keyName !== 'string' || keyName.length === 0 || keyName.length > 100)) {
      throw new StratusError('INVALID_REQUEST', 'name: an optional note of 1-100 characters telling the key apart', { field: 'body.name' });
    }
    const k = await triggers.createKey(name(req), keyName ?? null);
    res.status(201).json({ ...keyView(k), key: k.key, header: INVOKE_KEY_HEADER, note: `the key is shown once; send it in ${INVOKE_KEY_HEADER} to call the function URL when its http trigger has auth "key"` });
  });

  router.get('/functions/:name/keys', async (req, res) => {
    res.json({ keys: (await triggers.listKeys(name(req))).map(keyView) });
  });

  router.delete('/functions/:name/keys/:id', async (req, res) => {
    await triggers.revokeKey(name(req), String(req.params.id));
    res.status(204).end();
  });

  return router;
}
