// The scheduler on real Docker with the runtime images: growth under concurrent load, 429 past
// max + queue, scale to zero after the idle TTL, stems on the next cold start, scale-down under load
// without a lost request, replacement of a killed container, and reconciliation by a new scheduler.

import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StratusError } from '../../core/errors.js';
import { parseFunctionConfig, type FunctionConfigInput } from '../../core/function-config.js';
import { systemClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import type { DeployedVersion } from '../../core/types.js';
import { DockerBackend } from '../../scheduler/backends/docker.js';
import { createScheduler, type PoolScheduler, type SchedulerSettings } from '../../scheduler/index.js';
import type { Lease } from '../../scheduler/scheduler.js';
import { DOCKER_SOCKET, missing, RUNTIME_IMAGES } from '../support/services.js';

const FIXTURE = path.join(PROJECT_ROOT, 'test', 'fixtures', 'functions', 'node-modes');
const PLATFORM = `test-scheduler-${process.pid}`;
const IMAGE = `stratus-test/node-modes-baked:${process.pid}`;
let seq = 0;

function deployed(name: string, cfg: Partial<FunctionConfigInput> = {}, v = 1): DeployedVersion {
  const config = parseFunctionConfig({ name, runtime: 'node', handler: 'index.handler', ...cfg });
  return { function: name, version: v, config, image: IMAGE, artifactDir: FIXTURE, handler: 'index.handler' };
}

/** One request through a lease, as the gateway proxy sends it. */
function call(lease: Lease, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = { 'x-stratus-request-id': `sched-${++seq}`, 'x-stratus-deadline-ms': String(Date.now() + 30_000) };
    const req = http.request({ ...lease.requestOptions, agent: lease.agent, path: urlPath, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(await missing('docker', 'runtime-images'))('scheduler on docker', () => {
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  const made: PoolScheduler[] = [];
  const backends: DockerBackend[] = [];
  const current = new Map<string, DeployedVersion>();
  let runDir: string;

  function makeScheduler(settings: Partial<SchedulerSettings> = {}, autoTick = true): { scheduler: PoolScheduler; backend: DockerBackend } {
    const backend = new DockerBackend({ docker, runDir, platformId: PLATFORM, startTimeoutMs: 20_000, stopGraceMs: 500 });
    const scheduler = createScheduler({
      backend,
      clock: systemClock,
      logger: silentLogger,
      settings: {
        stemPoolSize: 0,
        queueDepth: 10,
        queueTimeoutMs: 20_000,
        tickMs: 200,
        stableWindowMs: 2000,
        panicWindowMs: 1000,
        targetUtilization: 1,
        runtimeImages: RUNTIME_IMAGES,
        startTimeoutMs: 20_000,
        ...settings,
      },
      lookupVersion: async (fn, v) => (current.get(fn)?.version === v ? current.get(fn)! : null),
      currentVersion: async (fn) => current.get(fn)?.version ?? null,
      autoTick,
    });
    made.push(scheduler);
    backends.push(backend);
    return { scheduler, backend };
  }

  async function run(s: PoolScheduler, v: DeployedVersion, urlPath = '/sleep?ms=50'): Promise<{ status: number; lease: Lease }> {
    const lease = await s.acquire(v, { deadline: Date.now() + 30_000 });
    try {
      return { status: await call(lease, urlPath), lease };
    } finally {
      lease.release('ok');
    }
  }

  beforeAll(async () => {
    runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-sch-'));
    execFileSync('docker', ['build', '-q', '-t', IMAGE, '-f-', FIXTURE], {
      input: `FROM ${RUNTIME_IMAGES.node}\nCOPY index.mjs /app/index.mjs\n`,
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
    });
  });

  // Each test's schedulers go with it: one left running keeps refilling its stems under the same
  // platform label, which a later test would take for leftovers of its own "restart".
  afterEach(async () => {
    for (const s of made.splice(0)) await s.close();
  });

  afterAll(async () => {
    for (const s of made) await s.close();
    for (const b of backends) await b.close();
    const left = await docker.listContainers({ all: true, filters: { label: [`dev.stratus.platform=${PLATFORM}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
    await docker.getImage(IMAGE).remove({ force: true }).catch(() => {});
    await fs.rm(runDir, { recursive: true, force: true });
    expect(left).toHaveLength(0); // close() left nothing behind
  });

  it('grows past one instance under concurrent load, answers 429 past max + queue, and loses nothing', async () => {
    const { scheduler } = makeScheduler({ queueDepth: 2 });
    const v = deployed('grow', { concurrency: 2, maxInstances: 3 });
    const results = await Promise.all(Array.from({ length: 6 }, () => run(scheduler, v, '/sleep?ms=300')));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(new Set(results.map((r) => r.lease.instance.instanceId)).size).toBeGreaterThan(1);
    expect(new Set(results.map((r) => r.lease.instance.instanceId)).size).toBeLessThanOrEqual(3);
    // 3 instances × 2 + queue 2 = 8 fit; the ninth is refused with 429 rather than dropped.
    const settled = await Promise.allSettled(Array.from({ length: 9 }, () => run(scheduler, v, '/sleep?ms=1500')));
    const refused = settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason as StratusError);
    expect(refused.map((e) => e.code)).toEqual(['TOO_MANY_REQUESTS']);
    expect(settled.filter((s) => s.status === 'fulfilled' && s.value.status === 200)).toHaveLength(8);
  });

  it('goes to zero after the idle TTL, then a cold start uses a ready stem', async () => {
    const { scheduler } = makeScheduler({ stemPoolSize: 1 });
    scheduler.tick();
    const v = deployed('idle', { idleTtlMs: 1000 });
    expect((await run(scheduler, v, '/value')).status).toBe(200);
    await vi.waitFor(() => expect(scheduler.instances('idle')).toHaveLength(0), { timeout: 15_000, interval: 100 });
    await vi.waitFor(() => expect(scheduler.stems.readyCount('node')).toBe(1), { timeout: 20_000, interval: 100 });
    const again = await run(scheduler, v, '/value');
    expect(again.status).toBe(200);
    expect(again.lease.start).toBe('stem');
  });

  it('scales down under steady load without failing a request', async () => {
    const { scheduler } = makeScheduler();
    const v = deployed('shrink', { concurrency: 1, maxInstances: 4 });
    await Promise.all(Array.from({ length: 4 }, () => run(scheduler, v, '/sleep?ms=200')));
    expect(scheduler.instances('shrink').length).toBeGreaterThan(1);
    const statuses: number[] = [];
    // One request at a time: demand 1 → the autoscaler drains the extra instances while we keep calling.
    for (let i = 0; i < 200 && scheduler.instances('shrink').length > 1; i++) statuses.push((await run(scheduler, v, '/sleep?ms=50')).status);
    expect(scheduler.instances('shrink')).toHaveLength(1);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('replaces a killed container and the next call succeeds; a new scheduler adopts or removes what it finds', async () => {
    // Ticks by hand: the "old process" must not keep scaling behind the new scheduler's back after the restart.
    const { scheduler } = makeScheduler({ stemPoolSize: 1 }, false);
    const v = deployed('steady', { minInstances: 1 });
    current.set('steady', v);
    await scheduler.prewarm(v);
    scheduler.tick();
    await vi.waitFor(() => expect(scheduler.instances('steady').filter((i) => i.state === 'ready')).toHaveLength(1), { timeout: 20_000, interval: 100 });
    const victim = scheduler.instances('steady')[0]!;
    const ref = (await docker.listContainers({ filters: { label: [`dev.stratus.platform=${PLATFORM}`] } })).find((c) => Object.values(c.Labels).includes(victim.id) || c.Names.some((n) => n.includes(victim.id)));
    execFileSync('docker', ['kill', ref!.Id]);
    await vi.waitFor(() => expect(scheduler.instances('steady').map((i) => i.id)).not.toContain(victim.id), { timeout: 10_000, interval: 100 });
    const next = await run(scheduler, v, '/value');
    expect(next.status).toBe(200);
    expect(next.lease.instance.instanceId).not.toBe(victim.id);
    await vi.waitFor(() => expect(scheduler.stems.readyCount('node')).toBe(1), { timeout: 20_000, interval: 100 });

    // A restart: a second scheduler over the same containers keeps the current version's instance
    // and removes the unclaimed stem (stems are cheap to recreate and may be half-specialized).
    await scheduler.stems.close(); // the old process is gone: it must not refill a stem behind the new one's back
    const { scheduler: second } = makeScheduler();
    await second.reconcile();
    const adopted = second.instances('steady').map((i) => i.id);
    expect(adopted).toHaveLength(1);
    expect(adopted).toEqual(scheduler.instances('steady').map((i) => i.id));
    const warm = await run(second, v, '/value');
    expect(warm.status).toBe(200);
    expect(warm.lease.start).toBe('warm');
    // The replacement may itself be a specialized stem (still labelled so): adopted, not removed.
    const stemsLeft = (await docker.listContainers({ filters: { label: [`dev.stratus.platform=${PLATFORM}`] } })).filter((c) => c.Labels['dev.stratus.role'] === 'stem' && !adopted.includes(c.Labels['dev.stratus.instance']!));
    expect(stemsLeft).toHaveLength(0);
  });
});
