// The dashboard's actions, each through the service the API uses (never HTTP to Stratus itself): invoke
// with a payload (an async invocation, as POST /v1/functions/:name/invocations queues it), roll back (the
// release service), set min/max instances (a PATCH of the function) and delete (after the name is typed).
// A form gets a redirect with a message for the next page; the page's script gets JSON.

import express, { type Request, type Response, type Router } from 'express';
import { StratusError } from '../../core/errors.js';
import { consoleAction, type ActionDone } from './console/action.js';
import type { DashboardDeps } from './deps.js';
import { wantsHtml } from './guard.js';

/** How long an invoke from the page waits for the result before answering with the invocation's id only. */
const INVOKE_WAIT_MS = 30_000;

export function actionsRouter(d: DashboardDeps): Router {
  const router = express.Router();
  const name = (req: Request) => String(req.params.name);
  const field = (req: Request, k: string): string | undefined => {
    const v = (req.body as Record<string, unknown> | undefined)?.[k];
    return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
  };
  const page = (req: Request) => `/ui/functions/${encodeURIComponent(name(req))}`;

  /** Runs an action; a form's failure comes back to the page as its message, a script's as problem+json. */
  const action = (run: (req: Request, res: Response) => Promise<ActionDone>) => consoleAction(d.logger, page, run);

  router.post('/functions/:name/invoke', action(async (req, res) => {
    const raw = field(req, 'payload') ?? '';
    let data: unknown = null;
    if (raw.trim() !== '') {
      try {
        data = JSON.parse(raw);
      } catch {
        throw new StratusError('INVALID_REQUEST', 'the payload is not valid JSON (leave it empty to send none)', { field: 'payload' });
      }
    }
    const { id } = await d.asyncInvocations.submit(name(req), data);
    const to = `${page(req)}/invocations/${encodeURIComponent(id)}`;
    if (wantsHtml(req)) return res.redirect(303, to);
    const view = await waitFor(d, id);
    res.json({ id, status: view?.status ?? 'queued', result: view?.result ?? null, error: view?.error ?? null, links: { page: to } });
  }));

  router.post('/functions/:name/rollback', action(async (req) => {
    const v = field(req, 'version')?.trim();
    const version = v ? Number(v) : undefined;
    if (version !== undefined && !(Number.isInteger(version) && version >= 1)) throw new StratusError('INVALID_REQUEST', 'version: a version number (1, 2, …), or empty for the previous good one', { field: 'version' });
    const moved = await d.releases.rollback(name(req), version);
    return { text: `${moved.name} serves v${moved.versions[0]!.version}${moved.previous?.[0] ? ` (was v${moved.previous[0].version})` : ''}` };
  }));

  router.post('/functions/:name/scale', action(async (req) => {
    const patch: Record<string, number> = {};
    for (const k of ['minInstances', 'maxInstances'] as const) {
      const v = field(req, k)?.trim();
      if (!v) continue;
      if (!/^\d{1,7}$/.test(v)) throw new StratusError('INVALID_REQUEST', `${k}: a whole number`, { field: k });
      patch[k] = Number(v);
    }
    if (Object.keys(patch).length === 0) throw new StratusError('INVALID_REQUEST', 'give minInstances, maxInstances or both', { field: 'minInstances' });
    const r = await d.service.patch(name(req), patch);
    return { text: `${r.name} v${r.version}: ${r.config.minInstances}–${r.config.maxInstances} instances (${r.rollout})` };
  }));

  router.post('/functions/:name/delete', action(async (req) => {
    if (field(req, 'confirm') !== name(req)) throw new StratusError('INVALID_REQUEST', `type the function's name, ${name(req)}, to delete it`, { field: 'confirm' });
    await d.service.remove(name(req));
    return { text: `${name(req)} is deleted`, to: '/ui/functions' };
  }));

  return router;
}

async function waitFor(d: DashboardDeps, id: string) {
  const until = Date.now() + INVOKE_WAIT_MS;
  for (;;) {
    const view = await d.asyncInvocations.queue.get(id);
    if (!view || ['succeeded', 'failed', 'dead'].includes(view.status) || Date.now() > until) return view;
    await new Promise((r) => setTimeout(r, 150));
  }
}
