// The ESLint config a function gets when it brings none (no eslint.config.js/.mjs/.cjs of its own).
// Only rules whose hits are bugs, never style: code that runs correctly passes, whatever it looks like.
// Errors fail the build; warnings are listed in the report and the build goes on. It imports nothing
// but Node's own modules, so the same file serves the checks image and the host (process backend).
// A file that does not parse is the load check's business (the runtime names file and line), so the
// parser error is not counted here — builder/checks-parse.ts leaves ESLint's fatal messages out.

import fs from 'node:fs';
import path from 'node:path';

/** package.json's "type": how Node loads plain .js files. */
function packageType() {
  try {
    const type = JSON.parse(fs.readFileSync(path.join(process.cwd(), 'package.json'), 'utf8')).type;
    return type === 'module' || type === 'commonjs' ? type : null;
  } catch {
    return null;
  }
}

/**
 * Without a "type", Node 20.19 loads a .js file as ES module or CommonJS by its syntax. ESLint cannot
 * choose per file, so such files are parsed as modules (CommonJS code parses as one) and also get
 * CommonJS's module-scope names: neither kind of file is flagged for what Node accepts.
 */
function plainJs() {
  const type = packageType();
  if (type !== null) return { sourceType: type };
  const commonJs = ['require', 'module', 'exports', '__dirname', '__filename'];
  return { sourceType: 'module', globals: { ...nodeGlobals, ...Object.fromEntries(commonJs.map((n) => [n, 'readonly'])) } };
}

// The globals of the Node that runs the checks (the runtime's own Node): fetch, Buffer, process,
// structuredClone … exactly what the function will find, with no list to keep up to date.
const nodeGlobals = Object.fromEntries(Object.getOwnPropertyNames(globalThis).map((name) => [name, 'readonly']));

const bugs = {
  'constructor-super': 'error',
  'for-direction': 'error',
  'getter-return': 'error',
  'no-async-promise-executor': 'error',
  'no-class-assign': 'error',
  'no-compare-neg-zero': 'error',
  'no-const-assign': 'error',
  'no-dupe-args': 'error',
  'no-dupe-class-members': 'error',
  'no-dupe-else-if': 'error',
  'no-dupe-keys': 'error',
  'no-duplicate-case': 'error',
  'no-func-assign': 'error',
  'no-import-assign': 'error',
  'no-invalid-regexp': 'error',
  'no-new-native-nonconstructor': 'error',
  'no-obj-calls': 'error',
  'no-self-assign': 'error',
  'no-setter-return': 'error',
  'no-this-before-super': 'error',
  'no-undef': 'error',
  'no-unsafe-finally': 'error',
  'no-unsafe-negation': 'error',
  'no-unsafe-optional-chaining': 'error',
  'use-isnan': 'error',
  'valid-typeof': 'error',
  // Likely mistakes that correct code also contains now and then: reported, never fatal.
  'no-unused-vars': ['warn', { args: 'none', caughtErrors: 'none' }],
  'no-unreachable': 'warn',
  'no-debugger': 'warn',
  'no-cond-assign': 'warn',
  'no-empty-pattern': 'warn',
  'no-sparse-arrays': 'warn',
};

export default [
  { ignores: ['**/node_modules/**', '**/.python_packages/**', '**/*.min.js'] },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    linterOptions: { reportUnusedDisableDirectives: 'off' },
    languageOptions: { ecmaVersion: 'latest', sourceType: 'module', globals: nodeGlobals },
    rules: bugs,
  },
  { files: ['**/*.js'], languageOptions: plainJs() },
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs' } },
];
