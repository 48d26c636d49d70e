import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Builder } from '../../builder/builder.js';
import type { ImageStep } from '../../builder/build-job.js';
import { ImageStepError } from '../../builder/image.js';
import { createBuilder } from '../../builder/index.js';
import type { InstallPlan, InstallRunner, RunOptions } from '../../builder/install.js';
import { loadConfig } from '../../core/config.js';
import { parseFunctionConfig, type FunctionConfigInput } from '../../core/function-config.js';
import { ManualClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import type { BuildRecord } from '../../core/types.js';
import { makeZip } from '../fixtures/archives/make-archives.js';

/** Records install plans; "fails" for code dirs holding a file named FAIL. */
class FakeRunner implements InstallRunner {
  plans: InstallPlan[] = [];
  async run(plan: InstallPlan, opts: RunOptions): Promise<number> {
    this.plans.push(plan);
    opts.onOutput(Buffer.from('npm ERR! 404 Not Found - GET https://registry.npm.test/no-such-pkg\n'));
    if (fs.existsSync(path.join(opts.dir, 'FAIL'))) return 1;
    fs.mkdirSync(path.join(opts.dir, 'node_modules/dep'), { recursive: true });
    fs.writeFileSync(path.join(opts.dir, 'node_modules/dep/index.js'), 'module.exports = 1');
    return 0;
  }
}

/** Stands in for Docker: remembers which trees it was given and what it pushed. */
class FakeImages implements ImageStep {
  built: { files: string[]; tag: string; handler: string }[] = [];
  pushed: string[] = [];
  missingBases = new Set<string>();
  async hasBase(image: string): Promise<boolean> {
    return !this.missingBases.has(image);
  }
  async build(codeDir: string, spec: { tag: string; handler: string }, log: (l: string) => void): Promise<void> {
    log('Step 1/4 : FROM base');
    this.built.push({ files: fs.readdirSync(codeDir).sort(), tag: spec.tag, handler: spec.handler });
  }
  async push(tag: string): Promise<string> {
    this.pushed.push(tag);
    return 'sha256:abc';
  }
}

let stateDir: string;
let store: MemoryStore;
let builder: Builder;
let runner: FakeRunner;
let images: FakeImages;
const clock = new ManualClock(Date.parse('2025-01-01T00:00:00Z'));

beforeEach(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-builder-'));
  store = new MemoryStore();
  runner = new FakeRunner();
  images = new FakeImages();
  builder = makeBuilder();
});
afterEach(async () => {
  await builder.close();
  await store.close();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

function makeBuilder(concurrency = 2, installRunner: InstallRunner = runner): Builder {
  const cfg = loadConfig({ STRATUS_STATE_DIR: stateDir, STRATUS_IMAGE_PREFIX: 'stratus', STRATUS_BUILD_CONCURRENCY: String(concurrency), STRATUS_BUILD_TIMEOUT_MS: '60000' });
  return createBuilder({ store, docker: null, build: cfg.build, images: cfg.images, stateDir, logger: silentLogger, clock, installRunner, imageStep: images });
}

/** An install that never ends on its own: it returns only when the build's signal stops it. */
class HangingRunner implements InstallRunner {
  started: string[] = [];
  #waiters: (() => void)[] = [];
  /** Resolves once `n` installs have started (the test's own timeout bounds the wait). */
  async waitForStarts(n: number): Promise<void> {
    while (this.started.length < n) await new Promise<void>((r) => this.#waiters.push(r));
  }
  run(_plan: InstallPlan, opts: RunOptions): Promise<number> {
    this.started.push(opts.buildId);
    for (const w of this.#waiters.splice(0)) w();
    return new Promise((resolve) => opts.signal.addEventListener('abort', () => resolve(137), { once: true }));
  }
}

/** Lets pending I/O and promise callbacks run without touching (possibly faked) timers. */
const settle = async (rounds = 50) => {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
};

let seq = 0;
/** Does what the gateway does: save the upload, write the records, submit. */
async function upload(name: string, files: Record<string, string> | Buffer, sourceName = 'code.zip', extra: Partial<FunctionConfigInput> = {}) {
  const config = parseFunctionConfig({ name, runtime: 'node', ...extra });
  const version = await store.nextVersion(name);
  const buildId = `b${++seq}`;
  const dir = path.join(stateDir, 'uploads', buildId);
  fs.mkdirSync(dir, { recursive: true });
  const bytes = Buffer.isBuffer(files) ? files : makeZip(Object.entries(files).map(([n, data]) => ({ name: n, data })));
  fs.writeFileSync(path.join(dir, sourceName), bytes);
  const now = new Date(clock.now()).toISOString();
  const fn = await store.getFunction(name);
  await store.putFunction({ name, config, currentVersion: fn?.currentVersion ?? null, latestVersion: version, createdAt: now, updatedAt: now });
  await store.putVersion({ function: name, version, config, status: 'building', image: null, artifactDir: null, buildId, createdAt: now });
  await store.putBuild({ id: buildId, function: name, version, status: 'queued', createdAt: now, startedAt: null, finishedAt: null, timings: {}, image: null, error: null });
  return { buildId, version, sourcePath: path.join(dir, sourceName), submit: () => builder.submit({ buildId, function: name, version, config, sourcePath: path.join(dir, sourceName), sourceName }) };
}

/** Polls the store until the build is terminal (bounded by count, not by wall-clock assertions). */
async function finished(buildId: string): Promise<BuildRecord> {
  for (let i = 0; i < 2000; i++) {
    const b = await store.getBuild(buildId);
    if (b && (b.status === 'succeeded' || b.status === 'failed')) return b;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`build ${buildId} did not finish`);
}

async function eventually(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe('BuildService', () => {
  it('keeps the upload as the version\'s source beside the artifacts, a failed build\'s too, and the upload dir goes', async () => {
    const ok = await upload('kept', { 'index.js': 'export default () => 1' });
    await ok.submit();
    const keptOk = path.join(stateDir, 'artifacts/kept/sources', ok.buildId, 'code.zip');
    await finished(ok.buildId);
    await eventually(() => fs.existsSync(keptOk));
    expect(fs.readFileSync(keptOk)).toEqual(makeZip([{ name: 'index.js', data: 'export default () => 1' }]));
    // The upload dir goes right after the move (the build's record is written before either): waited for, not raced.
    await eventually(() => !fs.existsSync(path.dirname(ok.sourcePath)));
    // Never inside the version's own tree, which the process backend runs.
    expect(fs.readdirSync(path.join(stateDir, 'artifacts/kept/v1'))).not.toContain('code.zip');
    const bad = await upload('kept', { 'index.js': 'export default () => 1', 'package.json': '{"dependencies":{"dep":"1"}}', 'package-lock.json': '{}', FAIL: '' });
    await bad.submit();
    expect((await finished(bad.buildId)).status).toBe('failed');
    await eventually(() => fs.existsSync(path.join(stateDir, 'artifacts/kept/sources', bad.buildId, 'code.zip')));
  });

  it('builds a node function with dependencies: artifact, image, records and log', async () => {
    const u = await upload('hello', { 'index.js': 'export default () => 1', 'package.json': '{"dependencies":{"dep":"1"}}', 'package-lock.json': '{}' });
    await u.submit();
    const b = await finished(u.buildId);
    expect(b).toMatchObject({ status: 'succeeded', image: '127.0.0.1:5000/stratus/hello:v1', error: null });
    expect(Object.keys(b.timings).sort()).toEqual(['extract', 'image', 'install', 'push']);
    expect(runner.plans[0]!.label).toBe('npm ci');
    expect(images.built[0]).toEqual({ files: ['index.js', 'node_modules', 'package-lock.json', 'package.json'], tag: '127.0.0.1:5000/stratus/hello:v1', handler: 'index.handler' });
    const v = await store.getVersion('hello', 1);
    expect(v).toMatchObject({ status: 'ready', image: '127.0.0.1:5000/stratus/hello:v1', artifactDir: path.join(stateDir, 'artifacts/hello/v1') });
    expect(fs.existsSync(path.join(v!.artifactDir!, 'node_modules/dep/index.js'))).toBe(true);
    expect((await store.getFunction('hello'))!.currentVersion).toBe(1);
    const log = (await store.readBuildLog(u.buildId)).text;
    expect(log).toMatch(/^\[extract\] unpacked zip upload/m);
    expect(log).toMatch(/^\[install\] \$ npm ci --omit=dev/m);
    expect(log).toMatch(/^\[image\] Step 1\/4/m);
    expect(log).toMatch(/^\[succeeded\]/m);
    // The upload and the work dir are gone once the build ended (the upload just after the record).
    await eventually(() => !fs.existsSync(path.dirname(u.sourcePath)));
    expect(fs.readdirSync(path.join(stateDir, 'work'))).toEqual([]);
  });

  it('notes secret-looking files of an upload in the build log by name, and builds it anyway', async () => {
    const u = await upload('leaky', { 'index.js': 'export default () => 1', '.env': 'TOKEN=x', 'conf/key.pem': 'k', '.env.example': 'TOKEN=', 'node_modules/pkg/test.pem': 'fixture' });
    await u.submit();
    expect((await finished(u.buildId)).status).toBe('succeeded');
    const log = (await store.readBuildLog(u.buildId)).text;
    expect(log).toMatch(/^\[extract\] note: the upload holds 2 paths that look like secrets, now in the image: \.env, conf\/key\.pem — /m);
    const clean = await upload('clean', { 'index.js': 'export default () => 1', '.env.example': 'TOKEN=' });
    await clean.submit();
    await finished(clean.buildId);
    expect((await store.readBuildLog(clean.buildId)).text).not.toMatch(/look like secrets/);
  });

  it('npm install without a lock file; a single file gets <name>.handler and an empty package.json', async () => {
    const u = await upload('single', Buffer.from('export default () => "hi"'), 'hello.js');
    await u.submit();
    const b = await finished(u.buildId);
    expect(b.status).toBe('succeeded');
    expect(runner.plans).toEqual([]);
    expect(images.built[0]).toMatchObject({ files: ['hello.js', 'package.json'], handler: 'hello.handler' });
    const u2 = await upload('nolock', { 'index.js': 'x', 'package.json': '{}' });
    await u2.submit();
    await finished(u2.buildId);
    expect(runner.plans[0]!.label).toBe('npm install');
  });

  it('a failing install fails the build with a clear error, keeps currentVersion and logs the tool output', async () => {
    const ok = await upload('fn', { 'index.js': 'x' });
    await ok.submit();
    await finished(ok.buildId);
    const bad = await upload('fn', { 'index.js': 'x', 'package.json': '{}', FAIL: '' });
    await bad.submit();
    const b = await finished(bad.buildId);
    expect(b).toMatchObject({ status: 'failed', error: 'npm install exited with code 1: see the build log' });
    expect((await store.getVersion('fn', 2))!.status).toBe('failed');
    expect((await store.getFunction('fn'))!.currentVersion).toBe(1);
    expect((await store.readBuildLog(bad.buildId)).text).toMatch(/^\[install\] npm ERR! 404 Not Found/m);
    expect(fs.existsSync(path.join(stateDir, 'artifacts/fn/v2'))).toBe(false);
  });

  it('a missing runtime image fails the build telling the operator how to build it, before any install', async () => {
    images.missingBases.add('stratus/runtime-node:latest');
    const up = await upload('fn', { 'index.js': 'x', 'package.json': '{}' });
    await up.submit();
    const b = await finished(up.buildId);
    expect(b.status).toBe('failed');
    expect(b.error).toMatch(/runtime image .* is not on this host.*bash scripts\/build-runtime-images\.sh.*STRATUS_RUNTIME_IMAGE_NODE/);
    expect(runner.plans).toHaveLength(0);
  });

  it('a missing handler file fails the build naming what was found', async () => {
    const u = await upload('nohandler', { 'app.js': 'x', 'lib/a.js': 'y' });
    await u.submit();
    const b = await finished(u.buildId);
    expect(b.error).toBe('handler index.handler: no index.js, index.mjs or index.cjs at the top of the upload (found: app.js, lib/); set "handler" in the function\'s configuration or rename the file');
    expect(images.built).toEqual([]);
  });

  it('an unsafe archive fails the build with the extractor\'s message', async () => {
    const u = await upload('evil', { '../evil.js': 'x' });
    await u.submit();
    const b = await finished(u.buildId);
    expect(b.status).toBe('failed');
    expect(b.error).toMatch(/path traversal/);
    expect(fs.existsSync(path.join(stateDir, 'work', 'evil.js'))).toBe(false);
  });

  it('an older build finishing after a newer one does not roll the function back', async () => {
    const v1 = await upload('race', { 'index.js': 'x' });
    const v2 = await upload('race', { 'index.js': 'y' });
    await v2.submit();
    await finished(v2.buildId);
    await v1.submit();
    expect((await finished(v1.buildId)).status).toBe('succeeded');
    expect((await store.getFunction('race'))!.currentVersion).toBe(2);
    expect((await store.getVersion('race', 1))!.status).toBe('ready');
  });

  it('recover() re-queues builds whose upload exists and fails the others', async () => {
    const resumable = await upload('rec', { 'index.js': 'x' });
    const lost = await upload('rec', { 'index.js': 'x' });
    fs.rmSync(path.dirname(lost.sourcePath), { recursive: true });
    await store.putBuild({ ...(await store.getBuild(resumable.buildId))!, status: 'building' });
    await builder.recover();
    expect((await finished(resumable.buildId)).status).toBe('succeeded');
    const l = await finished(lost.buildId);
    expect(l).toMatchObject({ status: 'failed', error: 'interrupted by a restart; upload the code again' });
    expect((await store.getVersion('rec', 2))!.status).toBe('failed');
  });

  it('recover() leaves alone the unfinished builds another platform sharing the Redis prefix runs (builtBy), and resumes its own', async () => {
    const leftovers: string[] = [];
    await builder.close();
    builder = makeBuilder(2, Object.assign(new FakeRunner(), { removeLeftovers: async (id: string) => void leftovers.push(id) }));
    const theirs = await upload('other', { 'index.js': 'x' });
    fs.rmSync(path.dirname(theirs.sourcePath), { recursive: true }); // its upload lies in the other's state dir
    await store.putBuild({ ...(await store.getBuild(theirs.buildId))!, status: 'building', builtBy: 'stratus-another0' });
    const mine = await upload('mine', { 'index.js': 'x' });
    await store.putBuild({ ...(await store.getBuild(mine.buildId))!, status: 'building', builtBy: builder.platformId! });
    await builder.recover();
    expect((await finished(mine.buildId)).status).toBe('succeeded');
    expect(await store.getBuild(theirs.buildId)).toMatchObject({ status: 'building', error: null });
    expect(leftovers).toEqual([mine.buildId]);
  });

  it('runs at most `concurrency` builds at once and stops one past the build timeout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const hanging = new HangingRunner();
      await builder.close();
      builder = makeBuilder(1, hanging);
      const a = await upload('slow', { 'index.js': 'x', 'package.json': '{}' });
      const b = await upload('slow', { 'index.js': 'x', 'package.json': '{}' });
      await a.submit();
      await b.submit();
      await hanging.waitForStarts(1);
      await settle();
      expect(hanging.started).toEqual([a.buildId]);
      expect((await store.getBuild(b.buildId))!.status).toBe('queued');
      vi.advanceTimersByTime(60_000);
      // The second build starts only once the first one has been stopped and recorded as failed.
      await hanging.waitForStarts(2);
      expect(hanging.started).toEqual([a.buildId, b.buildId]);
      const failed = (await store.getBuild(a.buildId))!;
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatch(/^the build took longer than 60 s and was stopped during install/);
    } finally {
      await builder.close();
      vi.useRealTimers();
    }
  });

  it('an error in the image build fails the build and puts Docker\'s words in the log', async () => {
    images.build = async () => {
      throw new ImageStepError('failed to register layer: no space left on device');
    };
    const u = await upload('imgfail', { 'index.js': 'x' });
    await u.submit();
    const b = await finished(u.buildId);
    expect(b).toMatchObject({ status: 'failed', error: 'building the image failed: see the build log' });
    expect((await store.readBuildLog(u.buildId)).text).toMatch(/^\[image\] error: failed to register layer: no space left on device$/m);
    expect((await store.getVersion('imgfail', 1))!.status).toBe('failed');
  });

  it('close() is safe twice and refuses new builds', async () => {
    await builder.close();
    await builder.close();
    const u = await upload('late', { 'index.js': 'x' });
    await expect(u.submit()).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });

  it('purge() removes the artifacts of a function', async () => {
    const u = await upload('gone', { 'index.js': 'x' });
    await u.submit();
    await finished(u.buildId);
    expect(fs.existsSync(path.join(stateDir, 'artifacts/gone/v1'))).toBe(true);
    await builder.purge('gone');
    expect(fs.existsSync(path.join(stateDir, 'artifacts/gone'))).toBe(false);
  });
});
