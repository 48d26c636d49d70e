// The console's routes under /ui (behind the session, and for the deploy the CSRF token and origin, which
// requireSession checks before anything here runs): the create page, a version's code in the editor, the
// diff of two versions, the source download, the editor bundle, and the deploy — the API's own upload
// path (gateway/api/deploy-upload.ts), so a browser upload is unpacked, checked and built as any other.

import path from 'node:path';
import express, { type Request, type Router } from 'express';
import { StratusError } from '../../../core/errors.js';
import { PROJECT_ROOT } from '../../../core/paths.js';
import { deployUpload } from '../../api/deploy-upload.js';
import { sourceMediaType, versionParam } from '../../api/routes/sources.js';
import { answerPage } from '../layout.js';
import type { DashboardDeps } from '../deps.js';
import type { Session } from '../sessions.js';
import { consoleBundle } from './bundle.js';
import { codeBody } from './code-page.js';
import { diffBody } from './diff-page.js';
import { newFunctionBody } from './new-page.js';
import { sendOwnFile } from '../../http/send-file.js';

const CSS = path.join(PROJECT_ROOT, 'gateway', 'ui', 'console', 'console.css');

export function consoleRouter(d: DashboardDeps): Router {
  const router = express.Router();
  const session = (res: express.Response) => res.locals.uiSession as Session;
  const name = (req: Request) => String(req.params.name);

  router.get('/assets/console.js', async (_req, res) => {
    const file = await consoleBundle(d.logger);
    res.setHeader('cache-control', 'no-cache');
    res.type('text/javascript');
    sendOwnFile(res, file);
  });
  router.get('/assets/console.css', (_req, res) => {
    res.setHeader('cache-control', 'no-cache');
    res.type('text/css');
    sendOwnFile(res, CSS);
  });

  router.get('/new', async (_req, res) => {
    await answerPage(res, 200, { title: 'Create a function', session: session(res), nav: 'functions', body: newFunctionBody() });
  });

  router.get('/functions/:name/code', async (req, res) => {
    const { fn, versions } = await d.service.get(name(req));
    const raw = req.query.version;
    const version = raw === undefined || raw === '' ? fn.currentVersion ?? fn.latestVersion : versionParam(raw);
    const files = await d.sources.files(fn.name, version);
    await answerPage(res, 200, { title: `${fn.name} v${version} code`, session: session(res), nav: 'functions', body: codeBody(files, versions, fn.currentVersion) });
  });

  router.get('/functions/:name/diff', async (req, res) => {
    const [a, b] = [versionParam(req.query.a), versionParam(req.query.b)];
    const [left, right] = await Promise.all([d.sources.files(name(req), a), d.sources.files(name(req), b)]);
    await answerPage(res, 200, { title: `${name(req)} v${a} → v${b}`, session: session(res), nav: 'functions', body: diffBody(left, right) });
  });

  router.get('/functions/:name/versions/:version/source', async (req, res) => {
    const kept = await d.sources.file(name(req), versionParam(req.params.version));
    res.setHeader('content-type', sourceMediaType(kept.name));
    res.setHeader('content-disposition', `attachment; filename="${path.basename(kept.name)}"`);
    sendOwnFile(res, kept.path);
  });

  // Answered as JSON (the page's script sends it); ?from=NAME&version=N: the edited code of that version,
  // deployed with its settings (the config part then changes only what it names).
  router.post('/console/deploy', async (req, res) => {
    if (!req.is('multipart/form-data')) throw new StratusError('UNSUPPORTED_MEDIA_TYPE', 'send multipart/form-data with parts config and code, as the console page does', { field: 'content-type' });
    let inherit;
    if (req.query.from !== undefined) {
      const from = String(req.query.from);
      const v = await d.store.getVersion(from, versionParam(req.query.version));
      if (!v) throw new StratusError('NOT_FOUND', `function ${from} has no version ${String(req.query.version)}`, { function: from });
      inherit = v.config;
    }
    const { result, triggers } = await deployUpload(req, { service: d.service, triggers: d.triggers, stateDir: d.config.stateDir, maxUploadBytes: d.config.build.maxUploadBytes }, inherit);
    const fn = encodeURIComponent(result.name);
    res.status(202).json({
      ...result,
      ...(triggers ? { triggers } : {}),
      links: { build: `/ui/builds/${encodeURIComponent(result.buildId ?? '')}?then=${fn}`, function: `/ui/functions/${fn}` },
    });
  });

  return router;
}
