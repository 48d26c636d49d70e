// The gateway's own health and readiness (open), the error catalogue problem `type`s point at (open: it is the repository's
// docs/errors.md, nothing of this platform), and metrics (behind the API key, as they name functions).

import path from 'node:path';
import express, { type RequestHandler, type Router } from 'express';
import { ERROR_DOCS_PATH, StratusError, toProblem } from '../../../core/errors.js';
import { PROJECT_ROOT } from '../../../core/paths.js';
import type { MetricsSource } from '../../../core/ports/metrics.js';
import type { Readiness } from '../../http/readiness.js';

export function systemRouter(opts: { registry: MetricsSource; auth: RequestHandler; storeKind: string; backendKind: string; readiness: Readiness }): Router {
  const router = express.Router();
  // Liveness: the process answers. Stays 200 while it drains (a supervisor must not kill a replica finishing its calls).
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', store: opts.storeKind, backend: opts.backendKind });
  });
  // Readiness: whether to send it new calls (gateway/http/readiness.ts); never cached by anything in between.
  // The 503 is its answer, not a failure: sent as a problem without the log line a failed request gets (a
  // balancer asks twice a second while the replica drains).
  router.get('/readyz', (req, res) => {
    res.set('cache-control', 'no-store');
    if (opts.readiness.ready) {
      res.json({ status: 'ready' });
      return;
    }
    const draining = new StratusError('SHUTTING_DOWN', 'this replica is stopping: it finishes the calls under way and takes no new ones once the drain notice is over');
    res.status(draining.status).type('application/problem+json').send(JSON.stringify(toProblem(draining, req.path)));
  });
  router.get(ERROR_DOCS_PATH, (_req, res) => {
    res.set('x-content-type-options', 'nosniff').type('text/markdown; charset=utf-8').sendFile(path.join(PROJECT_ROOT, 'docs/errors.md'));
  });
  router.get('/metrics', opts.auth, async (_req, res) => {
    const text = await opts.registry.render();
    res.type('text/plain; version=0.0.4; charset=utf-8').send(text);
  });
  return router;
}
