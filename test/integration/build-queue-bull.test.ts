// The build queue of replicas on one Redis (builder/build-service-bull.ts), on real Redis and BullMQ: two
// builders in this process stand for two replicas (each its own state dir, one prefix). The install and the
// image are stand-ins — what is under test is who runs a build, once, and how it is stopped and handed on;
// the real install on Docker with replicas killed is test/integration/build-takeover.test.ts.

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Builder } from '../../builder/builder.js';
import type { ImageStep } from '../../builder/build-job.js';
import { artifactKeys } from '../../builder/artifact-keys.js';
import { createBuilder } from '../../builder/index.js';
import type { InstallPlan, InstallRunner, RunOptions } from '../../builder/install.js';
import { VersionSources } from '../../control/functions/version-sources.js';
import { loadConfig } from '../../core/config.js';
import { parseFunctionConfig } from '../../core/function-config.js';
import { silentLogger } from '../../core/log.js';
import { RedisArtifactStore } from '../../core/store/artifacts-redis.js';
import { RedisStore } from '../../core/store/redis.js';
import type { BuildRecord } from '../../core/types.js';
import { makeZip } from '../fixtures/archives/make-archives.js';
import { REDIS_URL, missing } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';
import { until } from '../support/until.js';

/** An install that counts its starts per build; the next run of a build told to hold never ends until the build's signal stops it. */
class Installs implements InstallRunner {
  readonly starts = new Map<string, number>();
  /** "start ID" and "stopped ID" (a held run's signal), in order. */
  readonly events: string[] = [];
  /** How many of a build's next runs are held. */
  readonly #held = new Map<string, number>();
  holdNext(buildId: string, runs = 1): void {
    this.#held.set(buildId, runs);
  }
  run(_plan: InstallPlan, opts: RunOptions): Promise<number> {
    this.starts.set(opts.buildId, (this.starts.get(opts.buildId) ?? 0) + 1);
    this.events.push(`start ${opts.buildId}`);
    const held = this.#held.get(opts.buildId) ?? 0;
    if (held === 0) return Promise.resolve(0);
    this.#held.set(opts.buildId, held - 1);
    return new Promise((resolve) => opts.signal.addEventListener('abort', () => {
      this.events.push(`stopped ${opts.buildId}`);
      resolve(137);
    }, { once: true }));
  }
}

const images: ImageStep = { build: async () => {}, push: async () => 'sha256:0' };

interface Replica {
  builder: Builder;
  stateDir: string;
}

const open: { close(): Promise<void> }[] = [];
const dirs: string[] = [];
let prefix = '';
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  if (prefix) await removeRedisKeys(REDIS_URL, prefix);
});

describe.skipIf(await missing('redis'))('builds shared by replicas on one Redis (BullMQ)', () => {
  let store: RedisStore;
  let artifacts: RedisArtifactStore;
  const installs = new Installs();

  function setUp(): void {
    prefix = `stratus-buildq-${randomUUID().slice(0, 8)}:`;
    store = new RedisStore(REDIS_URL, { prefix });
    artifacts = new RedisArtifactStore(REDIS_URL, prefix);
    open.push(store, artifacts);
  }

  async function replica(takesBuilds = true): Promise<Replica> {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-buildq-'));
    dirs.push(stateDir);
    const cfg = loadConfig({ STRATUS_STATE_DIR: stateDir, STRATUS_IMAGE_PREFIX: 'stratus', STRATUS_BUILD_TIMEOUT_MS: '60000' });
    const builder = createBuilder({
      store, docker: null, build: cfg.build, images: cfg.images, stateDir, logger: silentLogger, installRunner: installs, imageStep: images,
      queue: { redisUrl: REDIS_URL, prefix, artifacts, takesBuilds },
    });
    open.push(builder);
    await builder.recover(); // as start-platform does: from here on it takes builds (when it may)
    return { builder, stateDir };
  }

  /** What the gateway does on the receiving replica: save the upload, prepare, write the records, submit. */
  async function upload(via: Replica, name: string, before?: (buildId: string) => void): Promise<{ buildId: string; submit: () => Promise<void> }> {
    const config = parseFunctionConfig({ name, runtime: 'node' });
    const version = await store.nextVersion(name);
    const buildId = `b-${randomUUID()}`;
    before?.(buildId);
    const dir = path.join(via.stateDir, 'uploads', buildId);
    fs.mkdirSync(dir, { recursive: true });
    const sourcePath = path.join(dir, 'code.zip');
    fs.writeFileSync(sourcePath, makeZip([{ name: 'index.mjs', data: 'export default () => 1;\n' }, { name: 'package.json', data: '{"name":"x","dependencies":{"a":"1"}}' }]));
    await via.builder.prepare({ buildId, config, sourcePath, sourceName: 'code.zip' });
    const now = new Date().toISOString();
    await store.putFunction({ name, config, currentVersion: null, latestVersion: version, createdAt: now, updatedAt: now });
    await store.putVersion({ function: name, version, config, status: 'building', image: null, artifactDir: null, buildId, createdAt: now });
    await store.putBuild({ id: buildId, function: name, version, status: 'queued', createdAt: now, startedAt: null, finishedAt: null, timings: {}, image: null, error: null, builtBy: via.builder.platformId! });
    const request = { buildId, function: name, version, config, sourcePath, sourceName: 'code.zip' };
    const bytes = fs.readFileSync(sourcePath);
    await via.builder.submit(request);
    return {
      buildId,
      // The receiving replica removed its copy once stored; a second submit brings the file again.
      submit: async () => {
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(sourcePath, bytes);
        await via.builder.submit(request);
      },
    };
  }

  const finished = (buildId: string) =>
    until(`build ${buildId} to end`, async () => {
      const b = await store.getBuild(buildId);
      return b && (b.status === 'succeeded' || b.status === 'failed') ? b : undefined;
    }, 30_000, 50);
  const log = async (buildId: string) => (await store.readBuildLog(buildId)).text;

  it('runs a build once, on one replica, from the stored upload; a second submit of it is a no-op; the source is readable from the other replica', async () => {
    setUp();
    const gateway = await replica(false);
    const worker = await replica(true);
    const up = await upload(gateway, 'once');
    // The receiving replica's disk holds nothing of it any more: the build depends on the store only.
    expect(fs.existsSync(path.join(gateway.stateDir, 'uploads', up.buildId))).toBe(false);
    expect(fs.existsSync(path.join(gateway.stateDir, 'work', up.buildId))).toBe(false);
    // The same build submitted again (a retried request, say): the queue knows its id, nothing is added.
    await up.submit();
    const b: BuildRecord = await finished(up.buildId);
    expect(b.status, b.error ?? '').toBe('succeeded');
    expect(b.builtBy).toBe(worker.builder.platformId);
    await up.submit();
    expect(installs.starts.get(up.buildId)).toBe(1);
    expect((await log(up.buildId)).match(/--- extract/g)).toHaveLength(1);
    expect(await log(up.buildId)).not.toMatch(/no build worker/); // one was running when it was queued
    // The upload goes from the store just after the verdict.
    await until('the upload to leave the store', async () => ((await artifacts.get(artifactKeys.upload(up.buildId))) === null ? true : undefined), 10_000, 50);
    // The gateway replica never had the source on its disk: it reads the one the worker kept in the store.
    const sources = new VersionSources(store, gateway.stateDir, { maxEntries: 100, maxUnpackedBytes: 1 << 20, maxCompressionRatio: 100 }, artifacts);
    const files = await sources.files('once', 1);
    expect(files.files.map((f) => f.path)).toEqual(['index.mjs', 'package.json']);
  });

  it('says in the build log when no build worker is running, and builds once one starts', async () => {
    setUp();
    const gateway = await replica(false);
    const up = await upload(gateway, 'waits');
    expect(await log(up.buildId)).toMatch(/no build worker is running/);
    expect((await store.getBuild(up.buildId))?.status).toBe('queued');
    await replica(true);
    expect((await finished(up.buildId)).status).toBe('succeeded');
  });

  it('stops a build on the replica that runs it when another replica deletes its function', async () => {
    setUp();
    const worker = await replica(true);
    const other = await replica(false);
    const up = await upload(other, 'purged', (id) => installs.holdNext(id));
    await until('the install to start', () => (installs.starts.get(up.buildId) ? true : undefined), 30_000, 20);
    await other.builder.purge('purged');
    // purge() returns once no replica runs it: the held install was stopped by its signal, not released.
    const b = await store.getBuild(up.buildId);
    expect(b?.status).not.toBe('succeeded');
    expect(await artifacts.get(artifactKeys.upload(up.buildId))).toBeNull();
    expect(installs.starts.get(up.buildId)).toBe(1);
    expect(worker.builder.platformId).toBeDefined();
  });

  it('stops a build whose lock its replica lost (another replica may run it now), without failing it; it is built again', async () => {
    setUp();
    const worker = await replica(true);
    const up = await upload(worker, 'lost', (id) => installs.holdNext(id));
    await until('the install to start', () => (installs.starts.get(up.buildId) ? true : undefined), 30_000, 20);
    // As if this replica had stalled past its lock: the lock is gone, its next renewal fails.
    const admin = new Redis(REDIS_URL);
    try {
      expect(await admin.del(`${prefix}bull:builds:${up.buildId}:lock`)).toBe(1);
    } finally {
      admin.disconnect();
    }
    const b = await finished(up.buildId);
    expect(b.status, b.error ?? '').toBe('succeeded');
    // Stopped before it ran again: never two runs of one build at once.
    expect(installs.events.filter((e) => e.endsWith(up.buildId))).toEqual([`start ${up.buildId}`, `stopped ${up.buildId}`, `start ${up.buildId}`]);
    expect(await log(up.buildId)).toMatch(/taken over by/);
  });

  it('fails a build whose replica keeps dying (its job stalled more than twice), rather than leave it building', async () => {
    setUp();
    await replica(true);
    const up = await upload(await replica(false), 'doomed', (id) => installs.holdNext(id, 3));
    const admin = new Redis(REDIS_URL);
    try {
      // Each run stalls as a killed replica's would: its lock goes while it installs.
      for (let run = 1; run <= 3; run++) {
        await until(`run ${run} to install`, () => ((installs.starts.get(up.buildId) ?? 0) >= run ? true : undefined), 30_000, 20);
        await until(`run ${run}'s lock`, async () => ((await admin.del(`${prefix}bull:builds:${up.buildId}:lock`)) === 1 ? true : undefined), 10_000, 20);
      }
    } finally {
      admin.disconnect();
    }
    const b = await finished(up.buildId);
    expect(b.status).toBe('failed');
    expect(b.error).toMatch(/started 3 times and each time the replica running it stopped during it/);
    expect(installs.starts.get(up.buildId)).toBe(3);
  });

  it('hands a running build to another replica when its replica stops, which builds it again and says so', async () => {
    setUp();
    const first = await replica(true);
    const up = await upload(first, 'handed', (id) => installs.holdNext(id));
    await until('the install to start', () => (installs.starts.get(up.buildId) ? true : undefined), 30_000, 20);
    const second = await replica(true);
    await first.builder.close(); // stops the held install; the run on the second replica is not held
    const b = await finished(up.buildId);
    expect(b.status, b.error ?? '').toBe('succeeded');
    expect(b.builtBy).toBe(second.builder.platformId);
    expect(await log(up.buildId)).toMatch(/taken over by .*starting again from the stored upload/);
    expect((await log(up.buildId)).match(/--- extract/g)).toHaveLength(2);
  });
});
