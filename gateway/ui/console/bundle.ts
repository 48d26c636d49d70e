// /ui/assets/console.js: the editor bundle scripts/build-console.mjs makes (CodeMirror 6 and the console's
// script). `npm start` builds it at prestart; here it is built on a request that finds it absent or older
// than its sources (a test run under tsx, a source changed under `npm run dev`). Requests that come while
// it builds wait for that one build; the freshness check itself is a few stat calls.

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { StratusError } from '../../../core/errors.js';
import type { Logger } from '../../../core/log.js';
import { PROJECT_ROOT } from '../../../core/paths.js';

interface BuildScript {
  buildConsole(o: { root: string }): Promise<{ out: string; built: boolean }>;
}

let pending: Promise<string> | null = null;

/** The bundle's path, built first when needed; a failed build is logged and tried again by the next request. */
export function consoleBundle(logger: Logger): Promise<string> {
  pending ??= build(logger)
    .catch((err: unknown) => {
      logger.error('the console bundle could not be built', { err });
      throw new StratusError('INTERNAL', 'the console editor could not be built; run `node scripts/build-console.mjs` to see why');
    })
    .finally(() => {
      pending = null;
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
