// Dead letters per function under /ui/functions/:name/dead-letters, through the async queue the API's
// GET …/dead-letters and POST …/replay use (control/invocations/): no HTTP to ourselves. Mounted after the
// session check, so a replay has passed the session, CSRF token and origin rules (guard.ts).

import express, { type Request, type Response, type Router } from 'express';
import { StratusError } from '../../../core/errors.js';
import type { DashboardDeps } from '../deps.js';
import { answerPage } from '../layout.js';
import { deadLettersBody } from '../pages/dead-letters.js';
import type { Session } from '../sessions.js';
import { consoleAction } from './action.js';

export function deadLettersConsole(d: DashboardDeps): Router {
  const router = express.Router();
  const name = (req: Request) => String(req.params.name);
  const back = (req: Request) => `/ui/functions/${encodeURIComponent(name(req))}/dead-letters`;
  const queue = d.asyncInvocations.queue;

  router.get('/functions/:name/dead-letters', async (req, res: Response) => {
    await d.service.get(name(req)); // FUNCTION_NOT_FOUND for a name the store does not know
    const session = res.locals.uiSession as Session;
    const letters = await queue.deadLetters(name(req));
    await answerPage(res, 200, { title: `${name(req)} · dead letters`, session, nav: 'functions', body: deadLettersBody(name(req), letters, session, d.clock.now()) });
  });

  router.post('/functions/:name/dead-letters/replay', consoleAction(d.logger, back, async (req) => {
    await d.service.get(name(req));
    const replayed = await queue.replay(name(req));
    if (replayed.length === 0) throw new StratusError('NOT_FOUND', `${name(req)} has no dead letter to replay`);
    return { text: `${replayed.length} dead letter${replayed.length === 1 ? '' : 's'} of ${name(req)} queued again with fresh attempts${replayed.length <= 5 ? `: ${replayed.join(', ')}` : ''}` };
  }));

  router.post('/functions/:name/dead-letters/:id/replay', consoleAction(d.logger, back, async (req) => {
    const id = String(req.params.id);
    await d.service.get(name(req));
    const replayed = await queue.replay(name(req), id);
    if (replayed.length === 0) throw new StratusError('NOT_FOUND', `${id.slice(0, 100)} is not a dead letter of ${name(req)} (replayed already, or never failed)`);
    return { text: `${id} is queued again with fresh attempts`, to: `/ui/functions/${encodeURIComponent(name(req))}/invocations/${encodeURIComponent(id)}` };
  }));

  return router;
}
