// The load check as the last build phase, with a Backend fake that plays the runtime's part: a start
// that resolves (the handler loaded) or rejects with the instance's last words, as Docker and the
// process backend do. The real runtimes are exercised in test/integration/load-check-process.test.ts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Builder } from '../../builder/builder.js';
import type { ImageStep } from '../../builder/build-job.js';
import { createBuilder } from '../../builder/index.js';
import { BackendLoadCheck } from '../../scheduler/backend-load-check.js';
import { loadConfig } from '../../core/config.js';
import { StratusError } from '../../core/errors.js';
import { parseFunctionConfig, type FunctionConfigInput } from '../../core/function-config.js';
import { ManualClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import type { BuildRecord } from '../../core/types.js';
import type { InstanceHandle, InstanceSpec } from '../../scheduler/backends/backend.js';
import { NotHealthyError } from '../../scheduler/backends/health.js';
import { failureSummary, InstanceStartError } from '../../scheduler/backends/start-output.js';
import { makeZip } from '../fixtures/archives/make-archives.js';

const NODE_SYNTAX_ERROR = [
  'stratus-runtime: listening on unix:/run/stratus/sock/runtime.sock (loading)',
  'stratus-runtime: cannot load handler "index.handler" from /app: loading index.js failed: SyntaxError: Unexpected token \';\' (at index.js:2)',
];

/** Starts "load" the code unless the test says how they fail; records what was started and stopped. */
class ScriptedBackend {
  starts: InstanceSpec[] = [];
  stops: string[] = [];
  failWith: unknown = null;
  async start(spec: InstanceSpec): Promise<InstanceHandle> {
    this.starts.push(spec);
    if (this.failWith) throw this.failWith;
    return { instanceId: spec.instanceId, role: spec.role, runtime: spec.runtime, function: spec.function, version: spec.version, endpoint: { kind: 'unix', socketPath: '/nowhere' }, backendRef: 'x', startedAt: 0 };
  }
  async stop(instanceId: string): Promise<void> {
    this.stops.push(instanceId);
  }
}

const images: ImageStep = { build: async () => {}, push: async () => 'sha256:abc' };
const clock = new ManualClock(Date.parse('2025-01-01T00:00:00Z'));
let stateDir: string;
let store: MemoryStore;
let backend: ScriptedBackend;
let builder: Builder;

beforeEach(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-loadcheck-'));
  store = new MemoryStore();
  backend = new ScriptedBackend();
  const cfg = loadConfig({ STRATUS_STATE_DIR: stateDir, STRATUS_IMAGE_PREFIX: 'stratus' });
  const loadCheck = new BackendLoadCheck(backend, silentLogger);
  builder = createBuilder({ store, docker: null, build: cfg.build, images: cfg.images, stateDir, logger: silentLogger, clock, imageStep: images, installRunner: { run: async () => 0 }, loadCheck });
});
afterEach(async () => {
  await builder.close();
  await store.close();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

let seq = 0;
/** What the gateway does for an upload: records, then submit; resolves with the finished build. */
async function build(name: string, files: Record<string, string>, extra: Partial<FunctionConfigInput> = {}): Promise<BuildRecord> {
  const config = parseFunctionConfig({ name, runtime: 'node', ...extra });
  const version = await store.nextVersion(name);
  const buildId = `lc${++seq}`;
  const dir = path.join(stateDir, 'uploads', buildId);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'code.zip'), makeZip(Object.entries(files).map(([n, data]) => ({ name: n, data }))));
  const now = new Date(clock.now()).toISOString();
  const fn = await store.getFunction(name);
  await store.putFunction({ name, config, currentVersion: fn?.currentVersion ?? null, latestVersion: version, createdAt: now, updatedAt: now });
  await store.putVersion({ function: name, version, config, status: 'building', image: null, artifactDir: null, buildId, createdAt: now });
  await store.putBuild({ id: buildId, function: name, version, status: 'queued', createdAt: now, startedAt: null, finishedAt: null, timings: {}, image: null, error: null });
  await builder.submit({ buildId, function: name, version, config, sourcePath: path.join(dir, 'code.zip'), sourceName: 'code.zip' });
  for (let i = 0; i < 2000; i++) {
    const b = await store.getBuild(buildId);
    if (b && (b.status === 'succeeded' || b.status === 'failed')) return b;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`build ${buildId} did not finish`);
}

describe('load check at build time', () => {
  it('starts the pushed image once as the function would run, stops it, and only then makes the version ready', async () => {
    const b = await build('ok', { 'index.js': 'export default () => 1' }, { env: { GREETING: 'hi' }, memoryMb: 128 });
    expect(b.status, b.error ?? '').toBe('succeeded');
    expect(Object.keys(b.timings)).toContain('load');
    expect(backend.starts).toHaveLength(1);
    const spec = backend.starts[0]!;
    expect(spec).toMatchObject({ role: 'function', runtime: 'node', function: 'ok', version: 1, image: '127.0.0.1:5000/stratus/ok:v1', handler: 'index.handler', memoryMb: 128, env: { GREETING: 'hi' } });
    expect(backend.stops).toEqual([spec.instanceId]);
    expect((await store.readBuildLog(b.id)).text).toMatch(/^\[load\] the handler loaded and \/healthz answered$/m);
    expect((await store.getFunction('ok'))!.currentVersion).toBe(1);
  });

  it('a version that cannot load fails its build with the runtime\'s own error and line; the previous version stays current', async () => {
    expect((await build('fn', { 'index.js': 'export default () => 1' })).status).toBe('succeeded');
    backend.failWith = new InstanceStartError('function fn v2: the runtime exited with code 1 before it was ready; see the instance logs', { instanceId: 'x' }, NODE_SYNTAX_ERROR);
    const b = await build('fn', { 'index.js': 'export default async function () {\n  return {;\n}\n' });
    expect(b.status).toBe('failed');
    expect(b.error).toBe('the code failed to load: cannot load handler "index.handler" from /app: loading index.js failed: SyntaxError: Unexpected token \';\' (at index.js:2) (the runtime\'s output is in the build log)');
    const log = (await store.readBuildLog(b.id)).text;
    expect(log).toMatch(/^\[load\] {3}stratus-runtime: cannot load handler .*\(at index\.js:2\)$/m);
    expect(log).toMatch(/^\[failed\] the code failed to load/m);
    expect((await store.getVersion('fn', 2))!.status).toBe('failed');
    expect((await store.getFunction('fn'))!.currentVersion).toBe(1);
    expect(fs.existsSync(path.join(stateDir, 'artifacts/fn/v2'))).toBe(false);
  });

  it('a start that fails without output is described by the backend\'s words', async () => {
    backend.failWith = new InstanceStartError('function quiet v1: the runtime exited with code 3 before it was ready; see the instance logs', {}, []);
    const b = await build('quiet', { 'index.js': 'process.exit(3)' });
    expect(b).toMatchObject({ status: 'failed', error: 'the function could not start: function quiet v1: the runtime exited with code 3 before it was ready' });
  });

  it('a start the platform refused (its socket was swapped) says so, not the runtime\'s last line', async () => {
    const cause = new NotHealthyError('untrusted', 'runtime.sock was replaced by a symbolic link');
    backend.failWith = new InstanceStartError('function swap v1: its socket cannot be trusted (runtime.sock was replaced by a symbolic link); the instance was removed', {}, ['stratus-runtime: listening on unix:/run/stratus/sock/runtime.sock (loading)'], { cause });
    const b = await build('swap', { 'index.js': 'export default () => 1' });
    expect(b).toMatchObject({ status: 'failed', error: 'the function could not start: function swap v1: its socket cannot be trusted (runtime.sock was replaced by a symbolic link); the instance was removed' });
    expect((await store.readBuildLog(b.id)).text).toMatch(/^\[load\] {3}stratus-runtime: listening on unix/m); // the output is still in the log
  });

  it('a failure that is not a failed start (the platform\'s own) is an internal error, not the user\'s', async () => {
    backend.failWith = new StratusError('SHUTTING_DOWN', 'Stratus is shutting down');
    const b = await build('plat', { 'index.js': 'export default () => 1' });
    expect(b.status).toBe('failed');
    expect(b.error).toMatch(/^internal error during load/);
  });
});

describe('failureSummary', () => {
  it('prefers the runtime\'s load-failure line, then the last error-looking line, then the last line', () => {
    expect(failureSummary(NODE_SYNTAX_ERROR)).toMatch(/^cannot load handler .*\(at index\.js:2\)$/);
    expect(failureSummary(['starting', 'Traceback (most recent call last):', 'KeyError: \'DB_URL\'', ''])).toBe('KeyError: \'DB_URL\'');
    expect(failureSummary(['just a line', 'the last one'])).toBe('the last one');
    expect(failureSummary([])).toBeNull();
  });
});
