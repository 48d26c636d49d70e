// Resolves a handler string ("index.handler", "src/app.main") to a function exported by the user's code.
// ESM (.mjs, or .js with `export` syntax: Node >= 20.19 detects module syntax without a package.json)
// and CommonJS (`module.exports = fn`, `exports.handler = fn`) are both loaded through import().

import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

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
    throw new HandlerLoadError(`loading ${path.relative(dir, file)} failed: ${why}`, err);
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
