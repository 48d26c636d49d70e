// A version's source, as it was uploaded: GET …/versions/N/source gives the file back (a .zip, a .tar.gz or
// one source file: what `curl -OJ` or the CLI saves), …/source/files its text files as bounded JSON (the
// console's editor and diff). Both read what the build kept (control/functions/version-sources.ts).

import path from 'node:path';
import express, { type Request, type Router } from 'express';
import { StratusError } from '../../../core/errors.js';
import type { VersionSources } from '../../../control/functions/version-sources.js';
import { sendOwnFile } from '../../http/send-file.js';

/** The version in the path: a positive whole number, else INVALID_REQUEST naming the field. */
export function versionParam(raw: unknown): number {
  const s = String(raw);
  const n = Number(s);
  if (!/^\d{1,9}$/.test(s) || n < 1) throw new StratusError('INVALID_REQUEST', `version: a version number (1, 2, …), not ${JSON.stringify(s.slice(0, 40))}`, { field: 'version' });
  return n;
}

/** What a kept upload is, told by its name (the builder told its kind by its bytes when it was built). */
export function sourceMediaType(name: string): string {
  if (name.endsWith('.zip')) return 'application/zip';
  if (name.endsWith('.tar.gz') || name.endsWith('.tgz')) return 'application/gzip';
  if (name.endsWith('.tar')) return 'application/x-tar';
  if (name.endsWith('.py')) return 'text/x-python; charset=utf-8';
  if (/\.[cm]?js$/.test(name)) return 'text/javascript; charset=utf-8';
  return 'application/octet-stream';
}

export function sourcesRouter(sources: VersionSources): Router {
  const router = express.Router();
  const at = (req: Request) => ({ name: String(req.params.name), version: versionParam(req.params.version) });

  router.get('/functions/:name/versions/:version/source', async (req, res) => {
    const { name, version } = at(req);
    const kept = await sources.file(name, version);
    res.setHeader('content-type', sourceMediaType(kept.name));
    // Always a download, never rendered: the bytes are the uploader's.
    res.setHeader('content-disposition', `attachment; filename="${path.basename(kept.name)}"`);
    res.setHeader('x-content-type-options', 'nosniff');
    sendOwnFile(res, kept.path, { 'cache-control': 'no-store' });
  });

  router.get('/functions/:name/versions/:version/source/files', async (req, res) => {
    const { name, version } = at(req);
    res.json(await sources.files(name, version));
  });

  return router;
}
