// Resolves a handler string ("index.handler", "src/app.main") to a function exported by the user's code.
// ESM (.mjs, or .js with `export` syntax: Node >= 20.19 detects module syntax without a package.json)
// and CommonJS (`module.exports = fn`, `exports.handler = fn`) are both loaded through import().

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const EXTENSIONS = ['.mjs', '.js', '.cjs'];

/** A load failure the caller reports as "bad handler" (stem: 400; function role: exit 1). */
export class HandlerLoadError extends Error {
  constructor(message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'HandlerLoadError';
  }
}

function splitHandler(handler) {
  const dot = handler.lastIndexOf('.');
  if (dot <= 0 || dot === handler.length - 1) {
    throw new HandlerLoadError(`handler "${handler}" must look like "file.export", e.g. "index.handler"`);
  }
  return { modulePath: handler.slice(0, dot), exportName: handler.slice(dot + 1) };
}

function resolveFile(codeDir, modulePath) {
  const base = path.resolve(codeDir, modulePath);
  // The handler must name a file inside the code directory, never one elsewhere on the instance.
  if (base !== codeDir && !base.startsWith(codeDir + path.sep)) {
    throw new HandlerLoadError(`handler module "${modulePath}" points outside the code directory`);
  }
  for (const ext of EXTENSIONS) if (existsSync(base + ext)) return base + ext;
  if (EXTENSIONS.includes(path.extname(base)) && existsSync(base)) return base;
  throw new HandlerLoadError(
    `handler module "${modulePath}" not found: looked for ${modulePath}{${EXTENSIONS.join(',')}} in ${codeDir}`,
  );
}

// Order matters: a named export wins, then the same name on a CommonJS exports object, then a default
// function (`export default` or `module.exports = fn`), then a transpiled ESM default inside CommonJS.
function pickExport(ns, exportName) {
  const candidates = [ns[exportName], ns.default?.[exportName], ns.default, ns.default?.default];
  return candidates.find((c) => typeof c === 'function');
}

/** Loads codeDir/<module> and returns the handler function; throws HandlerLoadError with a readable message. */
export async function loadHandler(codeDir, handler) {
  const dir = path.resolve(codeDir);
  if (!existsSync(dir)) throw new HandlerLoadError(`code directory ${dir} does not exist`);
  const { modulePath, exportName } = splitHandler(handler);
  const file = resolveFile(dir, modulePath);
  let ns;
  try {
    ns = await import(pathToFileURL(file).href);
  } catch (err) {
    let why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    if (why.includes('in ES module scope')) {
      // CommonJS code below a package.json with "type": "module" (e.g. code unpacked inside another project).
      why += `\nhint: put a package.json without "type" (or with "type": "commonjs") in ${dir}`;
    }
    const at = locate(err, dir, file);
    throw new HandlerLoadError(`loading ${path.relative(dir, file)} failed: ${why}${at ? ` (at ${at})` : ''}`, err);
  }
  const fn = pickExport(ns, exportName);
  if (fn === undefined) {
    const found = Object.keys(ns).join(', ') || 'none';
    throw new HandlerLoadError(
      `${path.relative(dir, file)} exports no function "${exportName}" and no default function (exports: ${found})`,
    );
  }
  return fn;
}

/**
 * Where in the user's code a load error points ("index.js:2:7"), or null. An error thrown while a module
 * ran, and a CommonJS syntax error, name the file in their stack. An ES module's syntax error does not
 * (Node keeps its position for its own crash report), so the handler's file is parsed once more as a
 * module by `node --check`, which prints the line — only on this failure path, never on a good load.
 */
function locate(err, dir, file) {
  if (!(err instanceof Error)) return null;
  for (const m of String(err.stack ?? '').matchAll(/(file:\/\/[^\s()]+|\/[^\s():]+):(\d+)(?::(\d+))?/g)) {
    let p = m[1];
    if (p.startsWith('file://')) {
      try {
        p = fileURLToPath(p);
      } catch {
        continue;
      }
    }
    if (p.startsWith(dir + path.sep)) return `${path.relative(dir, p)}:${m[2]}${m[3] ? `:${m[3]}` : ''}`;
  }
  if (err.name !== 'SyntaxError') return null;
  const check = spawnSync(process.execPath, ['--input-type=module', '--check'], { input: readFileSync(file), encoding: 'utf8', timeout: 5000 });
  const line = /^\[stdin\]:(\d+)/m.exec(check.stderr ?? '');
  // The check passing means the syntax error is in a file the handler imports: its position is unknown.
  return line ? `${path.relative(dir, file)}:${line[1]}` : null;
}
