#!/usr/bin/env node
// `npm start`'s build: turns the TypeScript sources that tsconfig.json includes into dist/ JavaScript,
// only those newer than their output, with esbuild (transpile only: the whole tree takes ~0.3 s, a tsc
// build ~20 s on 2 cores). The type check is `npm run lint` (tsc --noEmit), as in CI; the tests run the
// same esbuild transform through tsx, so this output is the code they check. `npm run build` is tsc's.
//
// A source is rebuilt when its output is missing or older than it (as make decides); everything is
// rebuilt when tsconfig.json, this script or the esbuild version changed since the last build (a
// stamp in the output dir says which). Outputs whose source is gone are removed, so a deleted or
// renamed module cannot go on being imported from dist/.
//
// usage: node scripts/build-dist.mjs [--outdir DIR]   (run from the project root; DIR defaults to
// tsconfig.json's outDir). Prints one line when it built something, nothing when all was current.
// Then the console's editor bundle (scripts/build-console.mjs), when stale, into dist/ui-assets/.

import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import * as esbuild from 'esbuild';
import { buildConsole, consolePaths } from './build-console.mjs';

const STAMP = '.build-stamp.json';
const SELF = fileURLToPath(import.meta.url);

/** tsconfig.json as plain JSON (it has no comments); what it includes, where it writes, what it targets. */
function readTsconfig(root) {
  const file = path.join(root, 'tsconfig.json');
  let cfg;
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${file} as JSON (${err.message}); build with \`npm run build\` (tsc) instead`, { cause: err });
  }
  const co = cfg.compilerOptions ?? {};
  return { file, include: cfg.include ?? [], outDir: co.outDir ?? 'dist', target: String(co.target ?? 'ES2022').toLowerCase() };
}

async function mtimeMs(file) {
  return (await fs.stat(file).catch(() => null))?.mtimeMs ?? null;
}

/** Every .ts source (not .d.ts) under the included folders, relative to root. */
async function sources(root, include) {
  const out = [];
  for (const dir of include) {
    const entries = await fs.readdir(path.join(root, dir), { recursive: true, withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.d.ts')) continue;
      const rel = path.relative(root, path.join(e.parentPath ?? e.path, e.name));
      if (!rel.split(path.sep).includes('node_modules')) out.push(rel);
    }
  }
  return out.sort();
}

const outputOf = (outDir, rel) => path.join(outDir, rel.replace(/\.ts$/, '.js'));

/** Removes .js / .js.map outputs under the included folders that no source maps to any more. */
async function removeOrphans(outDir, include, srcs) {
  const wanted = new Set(srcs.map((s) => outputOf(outDir, s)));
  let removed = 0;
  for (const dir of include) {
    const entries = await fs.readdir(path.join(outDir, dir), { recursive: true, withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isFile()) continue;
      const file = path.join(e.parentPath ?? e.path, e.name);
      const js = file.endsWith('.js.map') ? file.slice(0, -'.map'.length) : file.endsWith('.js') ? file : null;
      if (js && !wanted.has(js)) {
        await fs.rm(file, { force: true });
        removed++;
      }
    }
  }
  return removed;
}

export async function buildDist({ root = process.cwd(), outDir } = {}) {
  const t0 = performance.now();
  const ts = readTsconfig(root);
  const out = path.resolve(root, outDir ?? ts.outDir);
  const srcs = await sources(root, ts.include);
  // What the whole output depends on besides each source: a change here rebuilds everything.
  const stamp = { esbuild: esbuild.version, tsconfig: readFileSync(ts.file, 'utf8'), script: readFileSync(SELF, 'utf8') };
  const stampFile = path.join(out, STAMP);
  const previous = await fs.readFile(stampFile, 'utf8').catch(() => '');
  const all = previous !== JSON.stringify(stamp);
  const stale = [];
  for (const rel of srcs) {
    const built = all ? null : await mtimeMs(outputOf(out, rel));
    if (built === null || built < (await mtimeMs(path.join(root, rel)))) stale.push(rel);
  }
  const removed = await removeOrphans(out, ts.include, srcs);
  if (stale.length > 0) {
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: stale,
      outdir: out,
      outbase: '.',
      format: 'esm',
      platform: 'node',
      target: ts.target,
      sourcemap: true,
      tsconfig: ts.file,
      logLevel: 'error',
    });
    await fs.writeFile(stampFile, JSON.stringify(stamp));
  }
  return { sources: srcs.length, built: stale.length, removed, ms: performance.now() - t0, outDir: out };
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const { values } = parseArgs({ options: { outdir: { type: 'string' } } });
  try {
    const r = await buildDist({ outDir: values.outdir });
    if (r.built > 0 || r.removed > 0) {
      process.stderr.write(`build: ${r.built} of ${r.sources} sources transpiled${r.removed ? `, ${r.removed} stale outputs removed` : ''} into ${path.relative(process.cwd(), r.outDir) || '.'} in ${Math.round(r.ms)} ms\n`);
    }
    // The console's editor bundle too, where this project has one (scripts/build-console.mjs says why).
    if (existsSync(consolePaths(process.cwd()).entry)) {
      const c = await buildConsole({ root: process.cwd() });
      if (c.built) process.stderr.write(`build: console bundle ${path.relative(process.cwd(), c.out)}\n`);
    }
  } catch (err) {
    // esbuild has already printed the file and line of a syntax error; this says what failed.
    process.stderr.write(`build failed: ${err.message.split('\n')[0]}\n`);
    process.exitCode = 1;
  }
}
