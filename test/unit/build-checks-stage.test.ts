// The check stage inside the build service, with the tools' runs stood in for (the real tools run in
// test/integration/build-checks.test.ts): the build is `checking` while they run, a failure stops it
// before the image with failedStage 'check', keeps the report, leaves the current version and sends
// checks.failed instead of build.failed; a pass goes on to the image with timings.check.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageStep } from '../../builder/build-job.js';
import type { Builder } from '../../builder/builder.js';
import { CheckStage } from '../../builder/checks.js';
import type { CheckSandbox, ToolCommand, ToolRun } from '../../builder/checks-sandbox.js';
import { createBuilder } from '../../builder/index.js';
import { loadConfig } from '../../core/config.js';
import { parseFunctionConfig, type FunctionConfigInput } from '../../core/function-config.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import type { BuildRecord } from '../../core/types.js';
import { type Notifier, type NotifyEventInput } from '../../core/ports/notifier.js';
import { summarize } from '../../services/notify/event-text.js';
import { makeZip } from '../fixtures/archives/make-archives.js';

/** Answers each tool with the canned run for its first word; records what ran and the build's status then. */
class CannedSandbox implements CheckSandbox {
  ran: { command: string[]; status: string | undefined }[] = [];
  constructor(private readonly store: MemoryStore, private readonly runs: Record<string, Partial<ToolRun>>, private readonly pythonModules = true) {}
  describe(): string {
    return 'in a stand-in sandbox';
  }
  async ready(): Promise<void> {}
  eslint() {
    return { defaultConfig: '/defaults/eslint.config.mjs' };
  }
  async hasPythonModule(): Promise<boolean> {
    return this.pythonModules;
  }
  async run(cmd: ToolCommand): Promise<ToolRun> {
    this.ran.push({ command: cmd.command, status: (await this.store.getBuild('b1'))?.status });
    const canned = this.runs[cmd.command[0]!] ?? {};
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false, root: '/code', ...canned };
  }
}

const images: ImageStep = { build: async () => {}, push: async () => null };

let stateDir: string;
let store: MemoryStore;
let builder: Builder;
let events: NotifyEventInput[];
let installs: string[][];
const notifier: Notifier = { notify: async (e) => void events.push(e), close: async () => {} };

beforeEach(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-checks-stage-'));
  store = new MemoryStore();
  events = [];
  installs = [];
});
afterEach(async () => {
  await builder?.close();
  await store.close();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

function start(sandbox: CheckSandbox, imageStep: ImageStep = images): void {
  const cfg = loadConfig({ STRATUS_STATE_DIR: stateDir, STRATUS_IMAGE_PREFIX: 'stratus' });
  builder = createBuilder({ store, docker: null, build: cfg.build, images: cfg.images, stateDir, logger: silentLogger, installRunner: { run: async (plan) => (installs.push(plan.command), 0) }, imageStep, checkSandbox: sandbox, notifier });
}

/** Records an upload as the gateway does (v2 of a function whose v1 serves) and submits it as build b1. */
async function upload(extra: Partial<FunctionConfigInput> = {}, pkg = '{"type":"module","scripts":{"test":"node --test"}}'): Promise<void> {
  const config = parseFunctionConfig({ name: 'fn', runtime: 'node', ...extra });
  const dir = path.join(stateDir, 'uploads', 'b1');
  fs.mkdirSync(dir, { recursive: true });
  const files = [{ name: 'index.js', data: 'export default () => 1;\n' }, { name: 'package.json', data: pkg }];
  fs.writeFileSync(path.join(dir, 'code.zip'), makeZip(files));
  const now = new Date().toISOString();
  await store.putFunction({ name: 'fn', config, currentVersion: 1, latestVersion: 2, createdAt: now, updatedAt: now });
  await store.putVersion({ function: 'fn', version: 2, config, status: 'building', image: null, artifactDir: null, buildId: 'b1', createdAt: now });
  await store.putBuild({ id: 'b1', function: 'fn', version: 2, status: 'queued', createdAt: now, startedAt: null, finishedAt: null, timings: {}, image: null, error: null });
  await builder.submit({ buildId: 'b1', function: 'fn', version: 2, config, sourcePath: path.join(dir, 'code.zip'), sourceName: 'code.zip' });
}

async function finished(): Promise<BuildRecord> {
  for (let i = 0; i < 2000; i++) {
    const b = await store.getBuild('b1');
    if (b && (b.status === 'succeeded' || b.status === 'failed')) return b;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('build b1 did not finish');
}

const lintError = JSON.stringify([{ filePath: '/code/index.js', messages: [{ ruleId: 'no-undef', severity: 2, message: "'x' is not defined.", line: 4, column: 2 }] }]);

describe('the check stage in a build', () => {
  it('a lint error fails the build before the image: failedStage check, report kept, checks.failed sent, v1 still current', async () => {
    const sandbox = new CannedSandbox(store, { eslint: { exitCode: 1, stdout: lintError } });
    start(sandbox);
    await upload();
    const b = await finished();
    expect(b).toMatchObject({ status: 'failed', failedStage: 'check' });
    expect(b.error).toMatch(/^checks failed: eslint found 1 error: index\.js:4:2 'x' is not defined\. \(no-undef\) — the report is at \/v1\/builds\/b1\/report$/);
    expect(Object.keys(b.timings)).toEqual(['extract', 'install', 'check']);
    // Both tools ran while the build said `checking`, the default config for a function without its own.
    expect(sandbox.ran).toEqual([
      { command: ['eslint', '--config', '/defaults/eslint.config.mjs', '--format', 'json', '--no-warn-ignored', '--no-error-on-unmatched-pattern', '.'], status: 'checking' },
      { command: ['npm', 'test'], status: 'checking' },
    ]);
    const report = await store.getBuildReport('b1');
    expect(report!.checks.map((c) => [c.tool, c.status])).toEqual([['eslint', 'failed'], ['npm test', 'passed']]);
    expect((await store.getFunction('fn'))!.currentVersion).toBe(1);
    expect((await store.getVersion('fn', 2))!.status).toBe('failed');
    // The notification's summary is the findings alone: its line reads "checks of fn v2 failed: eslint found…".
    expect(events).toEqual([{ kind: 'checks.failed', function: 'fn', version: 2, data: { buildId: 'b1', summary: "eslint found 1 error: index.js:4:2 'x' is not defined. (no-undef)" } }]);
    expect(summarize(events[0]!)).toBe("checks of fn v2 failed: eslint found 1 error: index.js:4:2 'x' is not defined. (no-undef)");
    const log = (await store.readBuildLog('b1')).text;
    expect(log).toMatch(/^\[check\] --- check$/m);
    expect(log).not.toMatch(/^\[image\]/m);
  });

  it('passing checks go on to the image, with timings.check and a report of what passed', async () => {
    start(new CannedSandbox(store, { eslint: { exitCode: 0, stdout: '[]' } }));
    await upload();
    const b = await finished();
    expect(b.status, b.error ?? '').toBe('succeeded');
    expect(Object.keys(b.timings)).toEqual(['extract', 'install', 'check', 'image', 'push']);
    expect((await store.getBuildReport('b1'))!.checks.map((c) => c.status)).toEqual(['passed', 'passed']);
    expect(events).toEqual([]);
  });

  it('an ESLint that cannot load the function’s config fails the check saying so', async () => {
    start(new CannedSandbox(store, { eslint: { exitCode: 2, stdout: '', stderr: "Oops! Something went wrong! :(\n\nError [ERR_MODULE_NOT_FOUND]: Cannot find package 'eslint-plugin-x'\n" } }));
    await upload();
    const b = await finished();
    expect(b.error).toMatch(/^checks failed: eslint: ESLint could not run \(exit code 2\): Error \[ERR_MODULE_NOT_FOUND\]: Cannot find package 'eslint-plugin-x'/);
  });

  it('a test run past its time limit fails as timed out', async () => {
    start(new CannedSandbox(store, { eslint: { stdout: '[]' }, npm: { exitCode: null, timedOut: true, stdout: '# Subtest: slow\n' } }));
    await upload();
    const b = await finished();
    expect(b.error).toMatch(/^checks failed: npm test failed \(timed out\)/);
    expect(events.map((e) => e.kind)).toEqual(['checks.failed']);
  });

  it('installs the devDependencies for a test script and prunes them once the checks passed; not with tests off', async () => {
    const pkg = JSON.stringify({ type: 'module', scripts: { test: 'vitest run' }, devDependencies: { vitest: '^4' } });
    start(new CannedSandbox(store, { eslint: { stdout: '[]' } }));
    await upload({}, pkg);
    expect((await finished()).status).toBe('succeeded');
    expect(installs.map((c) => c.slice(0, 3))).toEqual([['npm', 'install', '--no-audit'], ['npm', 'prune', '--omit=dev']]);
    await builder.close();
    await store.putBuild({ ...(await store.getBuild('b1'))!, status: 'queued' });
    installs = [];
    start(new CannedSandbox(store, { eslint: { stdout: '[]' } }));
    await upload({ checks: { lint: true, test: false } }, pkg);
    expect((await finished()).status).toBe('succeeded');
    expect(installs.map((c) => c.slice(0, 3))).toEqual([['npm', 'install', '--omit=dev']]);
  });

  it('checks { lint: false, test: false } run nothing and say why in the report', async () => {
    const sandbox = new CannedSandbox(store, {});
    start(sandbox);
    await upload({ checks: { lint: false, test: false } });
    expect((await finished()).status).toBe('succeeded');
    expect(sandbox.ran).toEqual([]);
    expect((await store.getBuildReport('b1'))!.checks).toEqual([
      expect.objectContaining({ tool: 'eslint', status: 'skipped', reason: 'turned off by checks.lint: false' }),
      expect.objectContaining({ tool: 'npm test', status: 'skipped', reason: 'turned off by checks.test: false' }),
    ]);
  });

  it('a failure in another stage still sends build.failed, naming that stage', async () => {
    const failing: ImageStep = { build: async () => Promise.reject(Object.assign(new Error('no space left'), { name: 'ImageStepError' })), push: async () => null };
    start(new CannedSandbox(store, { eslint: { stdout: '[]' } }), failing);
    await upload();
    const b = await finished();
    expect(b).toMatchObject({ status: 'failed', failedStage: 'image' });
    expect(events.map((e) => e.kind)).toEqual(['build.failed']);
  });
});

describe('the check stage without the tools (process backend, a host without pyflakes or pytest)', () => {
  it('reports each check it cannot run as skipped, and says so loudly in the log', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-checks-py-'));
    fs.writeFileSync(path.join(dir, 'main.py'), 'def handler(event, context):\n    return 1\n');
    fs.writeFileSync(path.join(dir, 'test_main.py'), 'def test_nothing():\n    assert False\n');
    const sandbox = new CannedSandbox(new MemoryStore(), {}, false);
    const lines: string[] = [];
    const report = await new CheckStage(sandbox).run(
      { runtime: 'python', config: parseFunctionConfig({ name: 'py', runtime: 'python' }), codeDir: dir, buildId: 'b1' },
      { line: (l) => lines.push(l), chunk: () => {} },
      new AbortController().signal,
    );
    fs.rmSync(dir, { recursive: true, force: true });
    expect(report.checks).toEqual([
      expect.objectContaining({ tool: 'pyflakes', status: 'skipped', reason: expect.stringMatching(/pyflakes is not installed for python3 on this host/) }),
      expect.objectContaining({ tool: 'pytest', status: 'skipped', reason: expect.stringMatching(/pytest is not installed for python3 on this host/) }),
    ]);
    expect(lines).toContain('!!! pyflakes SKIPPED: pyflakes is not installed for python3 on this host (apt-get install python3-pyflakes)');
    expect(lines).toContain('!!! pytest SKIPPED: pytest is not installed for python3 on this host (apt-get install python3-pytest)');
    expect(sandbox.ran).toEqual([]);
  });
});
