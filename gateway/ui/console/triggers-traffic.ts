// The console's triggers, keys and traffic pages as one router for gateway/ui/router.ts to mount behind
// the session guard, with their script and stylesheet (served from this repository's files only, under
// /ui/assets/ where the Content-Security-Policy allows them), and their live fragments for live.ts.

import path from 'node:path';
import express, { type Router } from 'express';
import { PROJECT_ROOT } from '../../../core/paths.js';
import type { DashboardDeps } from '../deps.js';
import { trafficRouter } from './traffic-actions.js';
import { triggersRouter } from './triggers-actions.js';

export { trafficFragments } from './traffic-page.js';
export { triggersFragments } from './triggers-page.js';

const ASSETS = path.join(PROJECT_ROOT, 'gateway', 'ui', 'assets');
/** The only files this router serves (no path from the request reaches the file system). */
const CONSOLE_ASSETS: Record<string, string> = {
  'console-triggers.js': path.join(ASSETS, 'console-triggers.js'),
  'console-triggers.css': path.join(ASSETS, 'console-triggers.css'),
};

export function triggersTrafficRouter(d: DashboardDeps): Router {
  const router = express.Router();
  router.get('/assets/:file', (req, res, next) => {
    const file = CONSOLE_ASSETS[String(req.params.file)];
    if (!file) return next();
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(file);
  });
  router.use(triggersRouter(d), trafficRouter(d));
  return router;
}
