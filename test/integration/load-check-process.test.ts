// The load check with the real runtimes of runtime-images/, run by the process backend (no Docker): a
// syntax error, a failing import, a crash at load and a missing export each fail the build with the
// runtime's own words — file and line where the runtime gives them — and a good version passes.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Builder } from '../../builder/builder.js';
import { createBuilder } from '../../builder/index.js';
import { BackendLoadCheck } from '../../scheduler/backend-load-check.js';
import { loadConfig } from '../../core/config.js';
import { parseFunctionConfig } from '../../core/function-config.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import type { BuildRecord, Runtime } from '../../core/types.js';
import { ProcessBackend } from '../../scheduler/backends/process.js';
import { makeZip } from '../fixtures/archives/make-archives.js';
import { isCI } from '../support/services.js';

const hasPython = (() => {
  try {
    execFileSync('python3', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

describe('load check on the process backend', () => {
  let stateDir: string;
  let store: MemoryStore;
  let backend: ProcessBackend;
  let builder: Builder;
  let seq = 0;

  beforeAll(() => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-lcp-'));
    store = new MemoryStore();
    backend = new ProcessBackend({ runDir: path.join(stateDir, 'run'), startTimeoutMs: 10_000, stopGraceMs: 1000 });
    const cfg = loadConfig({ STRATUS_STATE_DIR: stateDir });
    builder = createBuilder({ store, docker: null, build: cfg.build, images: cfg.images, stateDir, logger: silentLogger, loadCheck: new BackendLoadCheck(backend, silentLogger) });
  });
  afterAll(async () => {
    await builder.close();
    await backend.close();
    await store.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  async function build(runtime: Runtime, files: Record<string, string>, env: Record<string, string> = {}): Promise<BuildRecord & { log: string }> {
    const name = `lc-${runtime}-${++seq}`;
    const config = parseFunctionConfig({ name, runtime, env });
    const buildId = `lcp${seq}`;
    const dir = path.join(stateDir, 'uploads', buildId);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'code.zip'), makeZip(Object.entries(files).map(([n, data]) => ({ name: n, data }))));
    const now = new Date().toISOString();
    await store.putFunction({ name, config, currentVersion: null, latestVersion: 1, createdAt: now, updatedAt: now });
    await store.putVersion({ function: name, version: 1, config, status: 'building', image: null, artifactDir: null, buildId, createdAt: now });
    await store.putBuild({ id: buildId, function: name, version: 1, status: 'queued', createdAt: now, startedAt: null, finishedAt: null, timings: {}, image: null, error: null });
    await builder.submit({ buildId, function: name, version: 1, config, sourcePath: path.join(dir, 'code.zip'), sourceName: 'code.zip' });
    for (let i = 0; i < 3000; i++) {
      const b = await store.getBuild(buildId);
      if (b && (b.status === 'succeeded' || b.status === 'failed')) return { ...b, log: (await store.readBuildLog(buildId)).text };
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`build ${buildId} did not finish`);
  }

  it('passes a function that loads, and leaves no instance running', async () => {
    const b = await build('node', { 'index.js': 'export default async () => ({ ok: true })' });
    expect(b.status, b.error ?? '').toBe('succeeded');
    expect(b.log).toMatch(/^\[load\] the handler loaded and \/healthz answered$/m);
    expect(await backend.list()).toEqual([]);
  });

  it('fails a Node syntax error with the file and line, in the error and in the log', async () => {
    const b = await build('node', { 'index.js': 'export default async function (event) {\n  return {;\n}\n' });
    expect(b.status).toBe('failed');
    expect(b.error).toMatch(/SyntaxError: Unexpected token.*\(at index\.js:2\)/);
    expect(b.log).toMatch(/^\[load\] .*cannot load handler "index\.handler".*SyntaxError.*\(at index\.js:2\)$/m);
    expect(await backend.list()).toEqual([]);
  });

  it('fails an import that does not resolve, a throw at load (with its line) and a missing export', async () => {
    const missing = await build('node', { 'index.js': 'import x from "no-such-package";\nexport default () => x;\n' });
    expect(missing.error).toMatch(/Cannot find package 'no-such-package'/);
    const thrown = await build('node', { 'index.js': 'const url = process.env.DB_URL;\nif (!url) throw new Error("DB_URL is not set");\nexport default () => url;\n' });
    expect(thrown.error).toMatch(/Error: DB_URL is not set \(at index\.js:2:\d+\)/);
    const noExport = await build('node', { 'index.js': 'export const other = () => 1;\n' });
    expect(noExport.error).toMatch(/index\.js exports no function "handler" and no default function/);
  });

  it('fails a crash at load that prints nothing of the runtime\'s own, saying how it exited', async () => {
    const b = await build('node', { 'index.js': 'console.error("config missing, giving up");\nprocess.exit(4);\nexport default () => 1;\n' });
    expect(b.status).toBe('failed');
    expect(b.error).toMatch(/config missing, giving up|exited with code 4/);
    expect(b.log).toMatch(/^\[load\] {3}config missing, giving up$/m);
  });

  it.skipIf(!hasPython && !isCI)('fails a Python syntax error and a failing import with file and line', async () => {
    const syntax = await build('python', { 'main.py': 'def handler(event, context):\n    return {\n' });
    expect(syntax.status).toBe('failed');
    expect(syntax.error).toMatch(/SyntaxError: .*\(main\.py, line 2\)/);
    const name = await build('python', { 'main.py': 'import os\nURL = os.environ["DB_URL"]\ndef handler(event, context):\n    return URL\n' });
    expect(name.error).toMatch(/KeyError: 'DB_URL' \(at main\.py:2\)/);
    const ok = await build('python', { 'main.py': 'import os\nURL = os.environ["DB_URL"]\ndef handler(event, context):\n    return URL\n' }, { DB_URL: 'x' });
    expect(ok.status, ok.error ?? '').toBe('succeeded');
  });
});
