// Which handler a version runs, and proof before any image is built that its file is in the upload —
// a missing handler is a build failure with a message naming what was found, not a crash at first call.
// The notation is the runtime's (runtime-images/README.md): node "src/app.main" → src/app.{mjs,js,cjs};
// python "main.handler" → main.py, "pkg.app.run" or "pkg/app.run" → pkg/app.py (or pkg/app/__init__.py).

import fsp from 'node:fs/promises';
import path from 'node:path';
import { StratusError } from '../core/errors.js';
import { DEFAULT_HANDLER, type FunctionConfig } from '../core/function-config.js';
import type { Runtime } from '../core/types.js';

/** config.handler, else "<file>.handler" for a single uploaded file, else the runtime's default. */
export function effectiveHandler(config: FunctionConfig, runtime: Runtime, singleFile: string | null): string {
  if (config.handler) return config.handler;
  if (singleFile) return `${singleFile.replace(/\.(mjs|cjs|js|py)$/, '')}.handler`;
  return DEFAULT_HANDLER[runtime];
}

/** Files that would satisfy a handler, relative to the code dir. */
export function handlerCandidates(runtime: Runtime, handler: string): string[] {
  const dot = handler.lastIndexOf('.');
  const module = dot > 0 ? handler.slice(0, dot) : handler;
  if (runtime === 'node') return ['.js', '.mjs', '.cjs'].map((ext) => `${module}${ext}`);
  const file = module.replace(/\./g, '/');
  return [`${file}.py`, `${file}/__init__.py`];
}

/** Throws INVALID_CONFIG (field config.handler) when no candidate file exists in `dir`. */
export async function checkHandler(dir: string, runtime: Runtime, handler: string): Promise<void> {
  const candidates = handlerCandidates(runtime, handler);
  if (candidates.some((c) => c.split('/').includes('..'))) {
    throw new StratusError('INVALID_CONFIG', `handler ${handler}: may not point outside the code ("..")`, { field: 'config.handler' });
  }
  for (const c of candidates) {
    const st = await fsp.stat(path.join(dir, c)).catch(() => null);
    if (st?.isFile()) return;
  }
  const folder = path.posix.dirname(candidates[0]!);
  const where = folder === '.' ? 'at the top of the upload' : `in ${folder}/ of the upload`;
  const found = await listing(path.join(dir, folder));
  const names = candidates.map((c) => path.posix.basename(c) === '__init__.py' ? c : path.posix.basename(c));
  const wanted = names.length === 2 ? names.join(' or ') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
  throw new StratusError('INVALID_CONFIG', `handler ${handler}: no ${wanted} ${where} (found: ${found}); set "handler" in the function's configuration or rename the file`, {
    field: 'config.handler',
  });
}

async function listing(dir: string): Promise<string> {
  const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => null);
  if (!entries || entries.length === 0) return 'nothing';
  const shown = entries
    .filter((e) => !e.name.startsWith('.') && e.name !== 'node_modules')
    .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
    .sort();
  return shown.length > 12 ? `${shown.slice(0, 12).join(', ')}, …` : shown.join(', ') || 'nothing';
}
