// How a dashboard action answers, for the function page's actions (actions.ts) and the console's screens:
// a form gets a redirect to the page it came from with a message (the flash), the page's script gets JSON (or
// problem+json on failure). The session, CSRF token and origin were checked before any of this runs
// (guard.ts's requireSession).

import type { Request, RequestHandler, Response } from 'express';
import { StratusError } from '../../../core/errors.js';
import type { Logger } from '../../../core/log.js';
import { asStratusError } from '../../http/problem.js';
import { wantsHtml } from '../guard.js';
import { setFlash } from '../sessions.js';

export type ActionDone = { text: string; to?: string } | void;

export function consoleAction(logger: Logger, back: (req: Request) => string, run: (req: Request, res: Response) => Promise<ActionDone>): RequestHandler {
  return async (req, res) => {
    try {
      const done = await run(req, res);
      if (!done || res.headersSent) return;
      if (!wantsHtml(req)) return void res.json({ ok: true, message: done.text });
      await setFlash(res, { kind: 'ok', text: done.text }); // written before the redirect: the next page may be another replica's
      res.redirect(303, done.to ?? back(req));
    } catch (err) {
      // A body refused before it was read (an upload too large): answer, then close rather than read it all.
      if (!req.complete) res.setHeader('connection', 'close');
      if (!wantsHtml(req)) throw err;
      const e = asStratusError(err, String(res.getHeader('x-stratus-request-id') ?? ''), logger);
      await setFlash(res, { kind: 'error', text: e.message });
      res.redirect(303, back(req));
    }
  };
}

/** A form field as one string (a repeated field is refused, not joined). */
export function field(req: Request, name: string): string | undefined {
  const v = (req.body as Record<string, unknown> | undefined)?.[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new StratusError('INVALID_REQUEST', `${name}: give it once, as text`, { field: name });
  return v;
}

/** A form field that may repeat (checkboxes): its values. */
export function fields(req: Request, name: string): string[] {
  const v = (req.body as Record<string, unknown> | undefined)?.[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

/** A query parameter as one string, or undefined. */
export function queryParam(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new StratusError('INVALID_REQUEST', `${name}: give it once in the query`, { field: name });
  return v;
}
