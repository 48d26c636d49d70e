// Triggers and invoke keys over the API (admin key, like the rest of /v1):
//   POST/GET /v1/functions/:name/triggers, GET/DELETE /v1/functions/:name/triggers/:id, GET /v1/triggers
//   POST/GET /v1/functions/:name/keys, DELETE /v1/functions/:name/keys/:id
//   GET /v1/triggers/cron-preview (a schedule's next fire times, before a trigger is saved)
// Parsing only; what a trigger means lives in control/triggers/.

import express, { type Router } from 'express';
import { z } from 'zod';
import { StratusError } from '../../../core/errors.js';
import { TRIGGER_TYPES, type TriggerRecord } from '../../../core/triggers.js';
import type { InvokeKeyRecord } from '../../../core/store/triggers.js';
import { type TriggerService } from '../../../control/triggers/trigger-service.js';
import { DEFAULT_PREVIEW_FIRES, MAX_PREVIEW_FIRES, previewCron } from '../../../control/triggers/cron-preview.js';
import { limitParam, oneOfParam, parseQuery } from './query.js';
import { INVOKE_KEY_HEADER } from '../../../core/invocation-contract.js';

const json = express.json({ limit: '256kb' });

/** The query of GET /v1/triggers (also its description in the OpenAPI document). */
export const triggerQuerySchema = z.object({ type: oneOfParam(TRIGGER_TYPES, 'only triggers of this type').optional() });

/** The query of GET /v1/triggers/cron-preview. */
export const cronPreviewQuerySchema = z.object({
  schedule: z.string({ error: 'is required: a 5- or 6-field cron expression, e.g. "*/5 * * * *"' }).meta({ description: 'a cron expression as a cron trigger takes it (5 fields, or 6 with seconds first)' }),
  timezone: z.string().optional().meta({ description: 'an IANA time zone; UTC when left out' }),
  count: limitParam(MAX_PREVIEW_FIRES, `how many fire times (default ${DEFAULT_PREVIEW_FIRES})`).optional(),
});

const KEY_NAME_RULE = 'name: an optional note of 1-100 characters telling the key apart';
/** The body of POST /v1/functions/:name/keys: nothing, or a note telling the key apart. */
export const invokeKeyBodySchema = z.object({ name: z.string(KEY_NAME_RULE).min(1, KEY_NAME_RULE).max(100, KEY_NAME_RULE).optional().meta({ description: 'a note of 1-100 characters telling the key apart' }) });

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

  // The function URL's settings changed in one step: a DELETE then a POST would leave the URL without them
  // (a key-protected URL public) in between.
  router.put('/functions/:name/triggers/http', json, async (req, res) => {
    if (!req.is('application/json')) throw new StratusError('UNSUPPORTED_MEDIA_TYPE', 'send the http trigger as application/json, e.g. {"type":"http","auth":"key"}', { field: 'content-type' });
    res.json(withLinks(await triggers.setHttp(name(req), req.body)));
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
    const { type } = parseQuery(triggerQuerySchema, req.query as Record<string, unknown>);
    const all = await triggers.listAll();
    res.json({ triggers: all.filter((t) => type === undefined || t.type === type).map(withLinks) });
  });

  router.get('/triggers/cron-preview', (req, res) => {
    const q = parseQuery(cronPreviewQuerySchema, req.query as Record<string, unknown>);
    res.json(previewCron(q, q.count ?? DEFAULT_PREVIEW_FIRES, 'query'));
  });

  router.post('/functions/:name/keys', json, async (req, res) => {
    // Other fields are ignored, as they always were: only a bad name is refused.
    const body = invokeKeyBodySchema.safeParse(req.body ?? {});
    if (!body.success) {
      const whole = body.error.issues[0]!.path.length === 0;
      throw new StratusError('INVALID_REQUEST', whole ? 'send {} or {"name": "a note"} as application/json' : KEY_NAME_RULE, { field: whole ? 'body' : 'body.name' });
    }
    const k = await triggers.createKey(name(req), body.data.name ?? null);
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
