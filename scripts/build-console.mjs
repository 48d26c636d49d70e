#!/usr/bin/env node
// The console's editor bundle: gateway/ui/console/browser/console.js with CodeMirror 6 (from node_modules)
// bundled by esbuild into one minified IIFE, dist/ui-assets/console.js, which /ui/assets/console.js serves
// (the dashboard's CSP takes scripts from /ui/assets/ only: no CDN, no inline script). Built at `npm start`
// (prestart) and, when absent or older than its sources, on the first request for it
// (gateway/ui/console/bundle.ts), so tests under tsx get it too. Never committed: it is made from the
// pinned packages in package-lock.json.
//
// usage: node scripts/build-console.mjs   (from the project root). Prints one line when it built.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

export const consolePaths = (root) => ({
  sourceDir: path.join(root, 'gateway', 'ui', 'console', 'browser'),
  entry: path.join(root, 'gateway', 'ui', 'console', 'browser', 'console.js'),
  out: path.join(root, 'dist', 'ui-assets', 'console.js'),
});

async function mtime(file) {
  return (await fs.stat(file).catch(() => null))?.mtimeMs ?? null;
}

/** Whether the bundle is missing or older than a browser source, this script or the lock file (a dependency changed). */
export async function consoleBundleStale(root) {
  const p = consolePaths(root);
  const built = await mtime(p.out);
  if (built === null) return true;
  const inputs = [SELF, path.join(root, 'package-lock.json'), ...(await fs.readdir(p.sourceDir)).map((f) => path.join(p.sourceDir, f))];
  for (const f of inputs) if ((await mtime(f)) > built) return true;
  return false;
}

/** Builds the bundle when stale; returns its path and whether it built. Written to a temp name, then renamed: a reader never sees half a file. */
export async function buildConsole({ root = process.cwd(), force = false } = {}) {
  const p = consolePaths(root);
  if (!force && !(await consoleBundleStale(root))) return { out: p.out, built: false };
  const esbuild = await import('esbuild');
  await fs.mkdir(path.dirname(p.out), { recursive: true });
  const tmp = `${p.out}.${process.pid}.tmp`;
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: [p.entry],
    outfile: tmp,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    logLevel: 'error',
  });
  await fs.rename(tmp, p.out);
  return { out: p.out, built: true };
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  try {
    const r = await buildConsole();
    if (r.built) process.stderr.write(`build: console bundle ${path.relative(process.cwd(), r.out)}\n`);
  } catch (err) {
    process.stderr.write(`console bundle failed: ${err.message.split('\n')[0]}\n`);
    process.exitCode = 1;
  }
}
