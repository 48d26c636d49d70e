// The package.json a build gives a Node tree that brings none (a single uploaded file, or an archive
// without one). Some package.json is needed: without it, Node would take the module type of whatever
// package.json sits above the artifact on the host (this repository's says "module"). But when a
// package.json without "type" holds a .js file written with `import`/`export`, Node parses it as
// CommonJS, fails, parses it again as a module and prints a MODULE_TYPELESS_PACKAGE_JSON warning on
// stderr at every start — which the function's log shows as an error, on the README's first example.
// So the handler's .js file decides: module syntax gets "type": "module", anything else no type.
//
// The file is only compiled (vm.compileFunction, as Node wraps CommonJS), never run: the builder does not
// execute uploaded code on the host.

import fsp from 'node:fs/promises';
import path from 'node:path';
import vm from 'node:vm';

/** Larger handler files are not parsed here; they keep the plain package.json. */
const MAX_PARSED_BYTES = 4 * 1024 * 1024;

// V8's messages when module syntax is parsed as CommonJS: the ones Node's own detection reacts to.
const MODULE_SYNTAX_ERRORS = [
  'Cannot use import statement outside a module',
  "Unexpected token 'export'",
  "Cannot use 'import.meta' outside a module",
  'await is only valid in async functions and the top level bodies of modules',
];

/** The package.json text for a Node tree without one, whose handler is e.g. "index.handler". */
export async function packageJsonFor(codeDir: string, handler: string): Promise<string> {
  const dot = handler.lastIndexOf('.');
  const base = path.join(codeDir, dot > 0 ? handler.slice(0, dot) : handler);
  // The runtime picks .mjs before .js (runtime-images/node/handler-loader.mjs); .mjs and .cjs say their type.
  if (await isFile(`${base}.mjs`)) return '{}\n';
  return (await usesModuleSyntax(`${base}.js`)) ? '{ "type": "module" }\n' : '{}\n';
}

/** True when the file parses only as an ES module: it fails as CommonJS on module syntax. */
export async function usesModuleSyntax(file: string): Promise<boolean> {
  const st = await fsp.stat(file).catch(() => null);
  if (!st?.isFile() || st.size > MAX_PARSED_BYTES) return false;
  const source = await fsp.readFile(file, 'utf8');
  try {
    vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file });
    return false;
  } catch (err) {
    return err instanceof SyntaxError && MODULE_SYNTAX_ERRORS.some((m) => err.message.includes(m));
  }
}

async function isFile(p: string): Promise<boolean> {
  return (await fsp.stat(p).catch(() => null))?.isFile() ?? false;
}
