// The gateway's own health (open) and metrics (behind the API key, as they name functions).

import express, { type RequestHandler, type Router } from 'express';
import type { MetricsRegistry } from '../deps.js';

export function systemRouter(opts: { registry: MetricsRegistry; auth: RequestHandler; storeKind: string; backendKind: string }): Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', store: opts.storeKind, backend: opts.backendKind });
  });
  router.get('/metrics', opts.auth, async (_req, res) => {
    const text = await opts.registry.render();
    res.type('text/plain; version=0.0.4; charset=utf-8').send(text);
  });
  return router;
}
