// The README's first example is a single file with `export default`. Its tree must get the package type
// Node needs, or Node prints a MODULE_TYPELESS_PACKAGE_JSON warning on stderr at every start, which the
// function's log shows as an error (issue 11, item 6). Real Node loads each tree here.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBuilder } from '../../builder/index.js';
import { packageJsonFor, usesModuleSyntax } from '../../builder/module-type.js';
import type { InstallRunner } from '../../builder/install.js';
import { loadConfig } from '../../core/config.js';
import { parseFunctionConfig } from '../../core/function-config.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-module-type-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const write = (name: string, text: string) => {
  fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
  fs.writeFileSync(path.join(dir, name), text);
};

/** What Node prints on stderr when it loads the file the way the runtime does (import()). */
function stderrOfLoading(file: string): string {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(file).href)})`], { encoding: 'utf8', cwd: dir });
  expect(run.status, run.stderr).toBe(0);
  return run.stderr;
}

const README_HELLO = "export default async function (event, context) {\n  return { message: `hello ${event.query.name ?? 'world'}`, requestId: context.requestId };\n}\n";

describe('the package.json of a Node tree without one', () => {
  it.each([
    ['export default', 'export default () => 1;', true],
    ['an import', "import fs from 'node:fs';\nmodule.exports = fs;", true],
    ['import.meta', 'console.log(import.meta.url);', true],
    ['top-level await', 'await Promise.resolve(1);\nmodule.exports = () => 1;', true],
    ['CommonJS', 'module.exports = async () => 1;', false],
    ['CommonJS returning at the top', 'if (true) return;\nexports.handler = () => 1;', false],
    ['a syntax error in CommonJS', 'module.exports = () => {', false],
    ['a syntax error after module syntax (Node then reports it as a module)', 'export default () => {', true],
  ])('tells %s', async (_what, source, isModule) => {
    write('index.js', source);
    expect(await usesModuleSyntax(path.join(dir, 'index.js'))).toBe(isModule);
  });

  it('types the tree by its handler file, and leaves .mjs alone', async () => {
    write('hello.js', README_HELLO);
    expect(JSON.parse(await packageJsonFor(dir, 'hello.handler'))).toEqual({ type: 'module' });
    write('src/app.js', 'module.exports.main = () => 1;');
    expect(JSON.parse(await packageJsonFor(dir, 'src/app.main'))).toEqual({});
    write('hello.mjs', 'export default () => 2;');
    expect(JSON.parse(await packageJsonFor(dir, 'hello.handler'))).toEqual({});
    expect(JSON.parse(await packageJsonFor(dir, 'missing.handler'))).toEqual({});
  });

  it('lets Node load either kind without a warning (a plain {} would warn for module syntax)', async () => {
    write('esm/index.js', README_HELLO);
    write('cjs/index.js', 'module.exports = async () => 1;');
    // The control: what the build wrote before, for the README's example.
    write('esm/package.json', '{}\n');
    expect(stderrOfLoading(path.join(dir, 'esm/index.js'))).toMatch(/MODULE_TYPELESS_PACKAGE_JSON/);
    for (const sub of ['esm', 'cjs']) {
      write(`${sub}/package.json`, await packageJsonFor(path.join(dir, sub), 'index.handler'));
      expect(stderrOfLoading(path.join(dir, sub, 'index.js'))).toBe('');
    }
  });

  it('is what a build of the single uploaded file gets (the README first example)', async () => {
    const stateDir = path.join(dir, 'state');
    const store = new MemoryStore();
    const noInstall: InstallRunner = { run: async () => 0 };
    const cfg = loadConfig({ STRATUS_STATE_DIR: stateDir });
    const builder = createBuilder({ store, docker: null, build: cfg.build, images: cfg.images, stateDir, logger: silentLogger, installRunner: noInstall, imageStep: null });
    try {
      const config = parseFunctionConfig({ name: 'hello', runtime: 'node' });
      const source = path.join(stateDir, 'uploads', 'b1', 'index.js');
      fs.mkdirSync(path.dirname(source), { recursive: true });
      fs.writeFileSync(source, README_HELLO);
      const now = new Date().toISOString();
      await store.putFunction({ name: 'hello', config, currentVersion: null, latestVersion: 1, createdAt: now, updatedAt: now });
      await store.putVersion({ function: 'hello', version: 1, config, status: 'building', image: null, artifactDir: null, buildId: 'b1', createdAt: now });
      await store.putBuild({ id: 'b1', function: 'hello', version: 1, status: 'queued', createdAt: now, startedAt: null, finishedAt: null, timings: {}, image: null, error: null });
      await builder.submit({ buildId: 'b1', function: 'hello', version: 1, config, sourcePath: source, sourceName: 'index.js' });
      let version = await store.getVersion('hello', 1);
      for (let i = 0; i < 2000 && version?.status === 'building'; i++) {
        await new Promise((r) => setTimeout(r, 5));
        version = await store.getVersion('hello', 1);
      }
      expect(version, (await store.readBuildLog('b1')).text).toMatchObject({ status: 'ready' });
      const artifact = version!.artifactDir!;
      expect(JSON.parse(fs.readFileSync(path.join(artifact, 'package.json'), 'utf8'))).toEqual({ type: 'module' });
      expect(stderrOfLoading(path.join(artifact, 'index.js'))).toBe('');
    } finally {
      await builder.close();
      await store.close();
    }
  });
});
