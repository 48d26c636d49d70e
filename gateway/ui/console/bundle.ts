// /ui/assets/console.js: the editor bundle scripts/build-console.mjs makes (CodeMirror 6 and the console's
// script). `npm start` builds it at prestart; here it is built on the first request when absent or stale
// (a test run under tsx, a changed source), once per process however many requests wait for it.

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { StratusError } from '../../../core/errors.js';
import type { Logger } from '../../../core/log.js';
import { PROJECT_ROOT } from '../../../core/paths.js';

interface BuildScript {
  buildConsole(o: { root: string }): Promise<{ out: string; built: boolean }>;
}

let pending: Promise<string> | null = null;

/** The bundle's path, built first when needed; a failed build is logged and retried on the next request. */
export function consoleBundle(logger: Logger): Promise<string> {
  pending ??= build(logger).catch((err: unknown) => {
    pending = null;
    logger.error('the console bundle could not be built', { err });
    throw new StratusError('INTERNAL', 'the console editor could not be built; run `node scripts/build-console.mjs` to see why');
  });
  return pending;
}

async function build(logger: Logger): Promise<string> {
  const script = pathToFileURL(path.join(PROJECT_ROOT, 'scripts', 'build-console.mjs')).href;
  const { buildConsole } = (await import(script)) as BuildScript;
  const r = await buildConsole({ root: PROJECT_ROOT });
  if (r.built) logger.info('built the console bundle', { file: r.out });
  return r.out;
}
