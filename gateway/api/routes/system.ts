// The gateway's own health (open), the error catalogue problem `type`s point at (open: it is the repository's
// docs/errors.md, nothing of this platform), and metrics (behind the API key, as they name functions).

import path from 'node:path';
import express, { type RequestHandler, type Router } from 'express';
import { ERROR_DOCS_PATH } from '../../../core/errors.js';
import { PROJECT_ROOT } from '../../../core/paths.js';
import type { MetricsSource } from '../../../core/ports/metrics.js';

export function systemRouter(opts: { registry: MetricsSource; auth: RequestHandler; storeKind: string; backendKind: string }): Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', store: opts.storeKind, backend: opts.backendKind });
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
