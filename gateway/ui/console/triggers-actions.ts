// The triggers page and its actions, each through the trigger service the API uses (never HTTP to Stratus):
//   GET  /ui/functions/:name/triggers                 the page
//   POST /ui/functions/:name/triggers/cron-preview    the next fire times (the page again, or JSON for its script)
//   POST /ui/functions/:name/triggers/{cron,storage}  add one
//   POST /ui/functions/:name/triggers/http            set the function URL's settings (one atomic replace)
//   POST /ui/functions/:name/triggers/:id/delete      remove one
//   POST /ui/functions/:name/keys                     issue an invoke key: the answer is the only page showing it
//   POST /ui/functions/:name/keys/:id/revoke          revoke one
// Session, CSRF token and origin are checked before any of these (guard.ts, mounted in front by router.ts).

import express, { type Request, type Response, type Router } from 'express';
import { StratusError } from '../../../core/errors.js';
import { INVOKE_KEY_HEADER } from '../../../core/invocation-contract.js';
import { HTTP_TRIGGER_ID } from '../../../core/triggers.js';
import { previewCron } from '../../../control/triggers/cron-preview.js';
import type { DashboardDeps } from '../deps.js';
import { wantsHtml } from '../guard.js';
import { setFlash } from '../sessions.js';
import { seg } from '../html.js';
import { formValues, one } from './posted-fields.js';
import { fnName, flashAction, refusal, sendPage, sessionOf } from './page-answers.js';
import { cronBody, httpBody, storageBody } from './trigger-forms.js';
import { keyIssuedBody } from './key-issued.js';
import { triggersBody, type FormState } from './triggers-page.js';

const triggersPage = (req: Request) => `/ui/functions/${seg(fnName(req))}/triggers`;

export function triggersRouter(d: DashboardDeps): Router {
  const router = express.Router();

  const show = async (req: Request, res: Response, status: number, state: FormState | null) => {
    const name = fnName(req);
    const body = await triggersBody(d, name, sessionOf(res), state);
    await sendPage(res, status, `${name} · triggers`, body, { live: `view=triggers&name=${encodeURIComponent(name)}` });
  };

  /** A form that adds or changes something: on success the page with a flash; refused, the page with the message and what was typed. */
  const formAction = (form: FormState['form'], run: (req: Request) => Promise<string>) => async (req: Request, res: Response) => {
    try {
      const text = await run(req);
      if (!wantsHtml(req)) return void res.json({ ok: true, message: text });
      await setFlash(res, { kind: 'ok', text });
      res.redirect(303, triggersPage(req));
    } catch (err) {
      if (!wantsHtml(req)) throw err;
      const r = refusal(d, res, err);
      await show(req, res, r.status, { form, values: formValues(req), error: r.message });
    }
  };

  router.get('/functions/:name/triggers', (req, res) => show(req, res, 200, null));

  router.post('/functions/:name/triggers/cron-preview', async (req, res) => {
    const values = formValues(req);
    if (!wantsHtml(req)) return void res.json(previewCron({ schedule: one(values, 'schedule'), timezone: one(values, 'timezone') }, undefined, 'body'));
    try {
      await show(req, res, 200, { form: 'cron', values, preview: previewCron({ schedule: one(values, 'schedule'), timezone: one(values, 'timezone') }) });
    } catch (err) {
      const r = refusal(d, res, err);
      await show(req, res, r.status, { form: 'cron', values, error: r.message });
    }
  });

  router.post('/functions/:name/triggers/cron', formAction('cron', async (req) => {
    const t = await d.triggers.create(fnName(req), cronBody(formValues(req)));
    return `cron trigger ${t.type === 'cron' ? t.schedule : ''} added to ${t.function}`;
  }));

  router.post('/functions/:name/triggers/storage', formAction('storage', async (req) => {
    const t = await d.triggers.create(fnName(req), storageBody(formValues(req)));
    return `storage trigger on bucket ${t.type === 'storage' ? t.bucket : ''} added to ${t.function}`;
  }));

  router.post('/functions/:name/triggers/http', formAction('http', async (req) => {
    const name = fnName(req);
    // One atomic replace of the http trigger alone (TriggerService.setHttp): removing the old one and adding the
    // new would leave a key-protected URL public in between, and a read-then-replace of the whole list would
    // lose a trigger another caller adds meanwhile.
    const t = await d.triggers.setHttp(name, httpBody(formValues(req)));
    return `${name}'s URL: ${t.type === 'http' && t.auth === 'key' ? 'an invoke key is required' : 'public'}`;
  }));

  router.post('/functions/:name/triggers/:id/delete', flashAction(d, triggersPage, async (req) => {
    const id = String(req.params.id);
    await d.triggers.remove(fnName(req), id);
    return id === HTTP_TRIGGER_ID ? `${fnName(req)}'s URL is public again, any method, no CORS` : `trigger ${id.slice(0, 8)} removed`;
  }));

  router.post('/functions/:name/keys', async (req, res) => {
    const name = fnName(req);
    const note = one(formValues(req), 'name');
    try {
      if (note.length > 100) throw new StratusError('INVALID_REQUEST', 'name: a note of at most 100 characters telling the key apart', { field: 'name' });
      const k = await d.triggers.createKey(name, note === '' ? null : note);
      if (!wantsHtml(req)) return void res.status(201).json({ id: k.id, prefix: k.prefix, name: k.name, key: k.key, header: INVOKE_KEY_HEADER });
      // The answer itself is the page (no redirect: the key is never in a URL, a flash or a later page),
      // and no-store (securityHeaders) keeps it out of every cache.
      await sendPage(res, 200, `Invoke key for ${name}`, keyIssuedBody(d, name, k, INVOKE_KEY_HEADER));
    } catch (err) {
      if (!wantsHtml(req)) throw err;
      const r = refusal(d, res, err);
      await show(req, res, r.status, { form: 'key', values: formValues(req), error: r.message });
    }
  });

  router.post('/functions/:name/keys/:id/revoke', flashAction(d, triggersPage, async (req) => {
    await d.triggers.revokeKey(fnName(req), String(req.params.id));
    return `invoke key revoked: calls with it are refused from now on`;
  }));

  return router;
}
