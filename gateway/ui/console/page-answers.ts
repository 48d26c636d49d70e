// How a console action answers: a browser's form gets the page again (with the outcome as the next page's
// flash after a redirect, or, for a refused form, the page itself with the message and what was typed); the
// page's own script (it asks for JSON) gets JSON or problem+json. The same rules as gateway/ui/actions.ts.

import type { Request, Response } from 'express';
import { asStratusError } from '../../http/problem.js';
import type { DashboardDeps } from '../deps.js';
import { wantsHtml } from '../guard.js';
import type { Html } from '../html.js';
import { answerPage, type PageOptions } from '../layout.js';
import { setFlash, type Session } from '../sessions.js';

export const sessionOf = (res: Response) => res.locals.uiSession as Session;
export const fnName = (req: Request) => String(req.params.name);

export function sendPage(res: Response, status: number, title: string, body: Html, extra: Partial<Omit<PageOptions, 'flash'>> = {}): Promise<void> {
  return answerPage(res, status, { title, session: sessionOf(res), body, nav: 'functions', ...extra });
}

/** The refusal as the API would answer it (status, message), for a page to show. */
export function refusal(d: DashboardDeps, res: Response, err: unknown): { status: number; message: string } {
  const e = asStratusError(err, String(res.getHeader('x-stratus-request-id') ?? ''), d.logger);
  return { status: e.status, message: e.message };
}

/**
 * Runs an action whose outcome is a sentence: a form is redirected to `to` with it as a flash (or with the
 * refusal as one), a script gets { ok, message } or problem+json.
 */
export function flashAction(d: DashboardDeps, to: (req: Request) => string, run: (req: Request, res: Response) => Promise<string>) {
  return async (req: Request, res: Response) => {
    try {
      const text = await run(req, res);
      if (!wantsHtml(req)) return void res.json({ ok: true, message: text });
      await setFlash(res, { kind: 'ok', text });
    } catch (err) {
      if (!wantsHtml(req)) throw err;
      await setFlash(res, { kind: 'error', text: refusal(d, res, err).message });
    }
    res.redirect(303, to(req)); // after the flash is written: the next page may be another replica's
  };
}
