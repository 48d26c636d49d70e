// GET /ui/live: the page's live updates as server-sent events. Every two seconds the page's fragments are
// rendered again by the same code that rendered the page, and each one that changed is sent whole
// (`fragment`: { id, html }) for the script to swap in; the charts' hour goes as `series` when it changed.
// A stream costs its viewer a few store reads per tick and nothing per invocation.

import type { Request, RequestHandler, Response } from 'express';
import { StratusError } from '../../core/errors.js';
import { openEventStream, sseEvent } from '../api/routes/builds.js';
import { trafficFragments, triggersFragments } from './console/triggers-traffic.js';
import type { DashboardDeps } from './deps.js';
import { buildFragments, invocationFragments } from './pages/details.js';
import { functionFragments } from './pages/function.js';
import { functionsFragments, type Fragments } from './pages/functions.js';
import { hostFragments } from './pages/host.js';

export const LIVE_TICK_MS = 2000;

type View = { render(): Promise<Fragments>; series?: () => unknown };

function viewOf(d: DashboardDeps, req: Request): View {
  const q = (k: string) => (typeof req.query[k] === 'string' ? (req.query[k] as string) : '');
  const activity = d.dashboard?.activity;
  switch (q('view')) {
    case 'functions': return { render: () => functionsFragments(d, q('q')) };
    case 'function': return { render: () => functionFragments(d, q('name')), ...(activity ? { series: () => activity.series(q('name')) } : {}) };
    case 'host': return { render: () => hostFragments(d), ...(activity ? { series: () => activity.series(null) } : {}) };
    case 'invocation': return { render: () => invocationFragments(d, q('name'), q('id')) };
    case 'build': return { render: async () => (await buildFragments(d, q('id'))).fragments };
    case 'triggers': return { render: () => triggersFragments(d, q('name')) };
    case 'traffic': return { render: () => trafficFragments(d, q('name')) };
    default: throw new StratusError('INVALID_REQUEST', 'view: one of functions, function, host, invocation, build, triggers, traffic', { field: 'view' });
  }
}

export function liveHandler(d: DashboardDeps, streams: Set<() => void>): RequestHandler {
  return (req: Request, res: Response) => {
    const view = viewOf(d, req);
    const stream = openEventStream(res, streams);
    const sent = new Map<string, string>();
    let lastSeries = '';
    const tick = async () => {
      const fragments = await view.render();
      if (stream.stopped) return;
      for (const [id, h] of Object.entries(fragments)) {
        if (sent.get(id) === h.value) continue;
        sent.set(id, h.value);
        res.write(sseEvent('fragment', JSON.stringify({ id, html: h.value })));
      }
      if (view.series) {
        const s = JSON.stringify(view.series());
        if (s !== lastSeries) res.write(sseEvent('series', (lastSeries = s)));
      }
      res.write(': tick\n\n');
    };
    const run = () => {
      tick().then(
        () => stream.schedule(run, LIVE_TICK_MS),
        (err: unknown) => {
          // A deleted function or build ends its page's stream; the page says so.
          const gone = err instanceof StratusError && err.status === 404;
          if (!gone) d.logger.warn('dashboard live update failed', { err });
          if (!stream.stopped) res.write(sseEvent(gone ? 'gone' : 'failed', gone ? (err as Error).message : 'live updates stopped; reload the page'));
          stream.stop();
        },
      );
    };
    run();
  };
}
