// The Docker backend against a real engine and the runtime images: stems specialized with /init,
// code-baked function images, the hardening as Docker reports it, OOM detection, both endpoint modes.

import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../core/paths.js';
import type { InstanceExit, InstanceSpec } from '../../scheduler/backends/backend.js';
import { DockerBackend } from '../../scheduler/backends/docker.js';
import { probeHealth } from '../../scheduler/backends/health.js';
import { createInstanceDir, removeInstanceDir } from '../../scheduler/backends/instance-dir.js';
import { callEndpoint } from '../support/endpoint-call.js';
import { instanceSpec } from '../support/instance-spec.js';
import { DOCKER_SOCKET, missing, RUNTIME_IMAGES } from '../support/services.js';

const FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'functions');
const PLATFORM = `test-backend-${process.pid}`;
const BAKED_IMAGE = `stratus-test/node-hello-baked:${process.pid}`;
const MB = 1024 * 1024;
let n = 0;

const stemSpec = (over: Partial<InstanceSpec> = {}): InstanceSpec => instanceSpec('dt', over);

const invoke = (h: { endpoint: Parameters<typeof callEndpoint>[0] }, p: string) =>
  callEndpoint(h.endpoint, { path: p, headers: { 'x-stratus-request-id': `req-${++n}` } });

describe.skipIf(await missing('docker', 'runtime-images'))('docker backend', () => {
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  let runDir: string;
  let backend: DockerBackend;

  async function specialize(b: DockerBackend, h: Awaited<ReturnType<DockerBackend['start']>>, fixture: string, handler: string) {
    const staged = await b.stageCode(h, path.join(FIXTURES, fixture));
    const init = await callEndpoint(h.endpoint, { method: 'POST', path: '/init', body: JSON.stringify({ ...staged, handler, function: fixture, version: 3, env: {} }) });
    expect(init.status, init.body).toBe(200);
  }

  beforeAll(async () => {
    runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-db-'));
    backend = new DockerBackend({ docker, runDir, platformId: PLATFORM, startTimeoutMs: 20_000, stopGraceMs: 1000 });
  });

  afterAll(async () => {
    await backend.close();
    const left = await docker.listContainers({ all: true, filters: { label: [`dev.stratus.platform=${PLATFORM}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
    await docker.getImage(BAKED_IMAGE).remove({ force: true }).catch(() => {});
    await fs.rm(runDir, { recursive: true, force: true });
  });

  it('starts a stem, stages code, specializes it with /init and invokes it over the unix socket', async () => {
    const h = await backend.start(stemSpec());
    expect(h.endpoint.kind).toBe('unix');
    expect(await probeHealth(h.endpoint)).toBe(200);
    await specialize(backend, h, 'node-hello', 'index.handler');
    const res = await invoke(h, '/hello');
    expect(JSON.parse(res.body)).toMatchObject({ message: 'hello from node', function: 'node-hello', version: 3, path: '/hello' });
    await backend.stop(h.instanceId);
  });

  it('runs hardened: uid 10001, read-only root, no capabilities, no new privileges, limits', async () => {
    const h = await backend.start(stemSpec({ memoryMb: 192 }));
    const info = await docker.getContainer(h.backendRef).inspect();
    expect(info.Name).toBe(`/stratus-${h.instanceId}`);
    expect(info.Config.User).toBe('10001:10001');
    expect(info.Config.Labels).toMatchObject({ 'dev.stratus.platform': PLATFORM, 'dev.stratus.instance': h.instanceId, 'dev.stratus.role': 'stem', 'dev.stratus.runtime': 'node' });
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges');
    expect(info.HostConfig.Memory).toBe(192 * MB);
    expect(info.HostConfig.MemorySwap).toBe(192 * MB);
    expect(info.HostConfig.PidsLimit).toBe(256);
    expect(info.HostConfig.PortBindings ?? {}).toEqual({});
    // The image EXPOSEs 8080 (listed with null), but nothing is published: unix mode needs no port.
    expect(Object.values(info.NetworkSettings.Ports ?? {}).every((b) => b === null)).toBe(true);

    await specialize(backend, h, 'node-sandbox-probe', 'index.handler');
    expect(JSON.parse((await invoke(h, '/whoami')).body)).toEqual({ uid: 10001, gid: 10001 });
    const writes = JSON.parse((await invoke(h, '/write')).body) as Record<string, string>;
    expect(writes).toEqual({ '/': 'EROFS', '/app': 'EROFS', '/opt/stratus': 'EROFS', '/run/stratus': 'EROFS', '/run/stratus/code': 'EROFS', '/tmp': 'writable' });

    await backend.setLimits(h.instanceId, { memoryMb: 96, cpus: null });
    expect((await docker.getContainer(h.backendRef).inspect()).HostConfig.Memory).toBe(96 * MB);
    await backend.stop(h.instanceId);
  });

  it('starts a function image with its code baked in', async () => {
    execFileSync('docker', ['build', '-q', '-t', BAKED_IMAGE, '-f-', path.join(FIXTURES, 'node-hello')], {
      input: `FROM ${RUNTIME_IMAGES.node}\nCOPY index.js /app/index.js\n`,
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
    });
    const h = await backend.start(stemSpec({ role: 'function', function: 'baked', version: 9, image: BAKED_IMAGE, handler: 'index.handler' }));
    const res = await invoke(h, '/baked');
    expect(JSON.parse(res.body)).toMatchObject({ message: 'hello from node', function: 'baked', version: 9 });
    await backend.stop(h.instanceId);
  });

  it('stop removes the container and its dir, and is idempotent', async () => {
    const h = await backend.start(stemSpec());
    const dir = path.join(backend.runDir, h.instanceId);
    await fs.stat(dir);
    expect((await backend.list()).map((i) => i.instanceId)).toContain(h.instanceId);
    await backend.stop(h.instanceId, { graceMs: 0 });
    await backend.stop(h.instanceId);
    await expect(docker.getContainer(h.backendRef).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(fs.stat(dir)).rejects.toThrow();
    expect((await backend.list()).map((i) => i.instanceId)).not.toContain(h.instanceId);
    expect(await backend.diagnose(h.instanceId)).toMatchObject({ reason: 'killed' });
  });

  it('list() unmounts and removes instance dirs whose container is gone, but not a fresh one', async () => {
    const orphan = 'orphan-' + process.pid;
    const fresh = 'fresh-' + process.pid;
    for (const id of [orphan, fresh]) await createInstanceDir(backend.runDir, id, { uid: 10001, gid: 10001 });
    const old = new Date(Date.now() - 3_600_000);
    await fs.utimes(path.join(backend.runDir, orphan), old, old);
    await backend.list();
    await expect(fs.access(path.join(backend.runDir, orphan))).rejects.toThrow();
    expect(await fs.readFile('/proc/mounts', 'utf8')).not.toContain(path.join(backend.runDir, orphan));
    await fs.access(path.join(backend.runDir, fresh, 'sock'));
    await removeInstanceDir(backend.runDir, fresh);
  });

  it('list() finds instances by label, with endpoints a fresh backend can reach', async () => {
    const h = await backend.start(stemSpec());
    const fresh = new DockerBackend({ docker, runDir, platformId: PLATFORM });
    const found = (await fresh.list()).find((i) => i.instanceId === h.instanceId);
    expect(found).toMatchObject({ role: 'stem', runtime: 'node', function: null, version: null, endpoint: h.endpoint, backendRef: h.backendRef });
    expect(await probeHealth(found!.endpoint)).toBe(200);
    const other = new DockerBackend({ docker, runDir, platformId: `${PLATFORM}-other` });
    expect((await other.list()).map((i) => i.instanceId)).not.toContain(h.instanceId);
    await Promise.all([fresh.close(), other.close()]);
    await backend.stop(h.instanceId);
  });

  it('list() reports a specialized stem as the instance of the version it serves, so a restart adopts it', async () => {
    const h = await backend.start(stemSpec());
    await backend.stageCode({ ...h, role: 'function', function: 'node-hello', version: 3 }, path.join(FIXTURES, 'node-hello'));
    const fresh = new DockerBackend({ docker, runDir, platformId: PLATFORM });
    const found = (await fresh.list()).find((i) => i.instanceId === h.instanceId);
    expect(found).toMatchObject({ role: 'function', runtime: 'node', function: 'node-hello', version: 3, endpoint: h.endpoint });
    await fresh.close();
    await backend.stop(h.instanceId);
  });

  it('an allocation past a 64 MB limit is reported as oom by diagnose and onExit', async () => {
    const h = await backend.start(stemSpec());
    await specialize(backend, h, 'node-sandbox-probe', 'index.handler');
    await backend.setLimits(h.instanceId, { memoryMb: 64, cpus: null });
    const exited = new Promise<InstanceExit>((resolve) => {
      const off = backend.onExit((e) => {
        if (e.instanceId !== h.instanceId) return;
        off();
        resolve(e);
      });
    });
    await backend.eventsReady();
    await invoke(h, '/alloc?mb=512').catch(() => null); // the connection dies with the process
    expect(await exited).toMatchObject({ instanceId: h.instanceId, reason: 'oom' });
    expect(await backend.diagnose(h.instanceId)).toMatchObject({ reason: 'oom' });
    await backend.stop(h.instanceId);
  });

  it('a runtime that exits while starting fails the start with INSTANCE_START_FAILED and leaves nothing', async () => {
    const s = stemSpec({ role: 'function', function: 'broken', version: 1, handler: 'missing.handler' });
    await expect(backend.start(s)).rejects.toMatchObject({ code: 'INSTANCE_START_FAILED' });
    expect((await backend.list()).map((i) => i.instanceId)).not.toContain(s.instanceId);
    await expect(fs.stat(path.join(backend.runDir, s.instanceId))).rejects.toThrow();
  });

  it('an image that cannot be pulled fails with INSTANCE_START_FAILED', async () => {
    const s = stemSpec({ image: '127.0.0.1:5000/stratus-test/never-pushed:v0' });
    const err = await backend.start(s).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INSTANCE_START_FAILED' });
    expect((err as Error).message).toMatch(/could not be pulled/);
  });

  it('the tcp endpoint mode publishes 8080 on 127.0.0.1 only', async () => {
    const tcp = new DockerBackend({ docker, runDir, platformId: PLATFORM, endpointMode: 'tcp', stopGraceMs: 1000 });
    const h = await tcp.start(stemSpec());
    expect(h.endpoint).toMatchObject({ kind: 'tcp', host: '127.0.0.1' });
    const bindings = (await docker.getContainer(h.backendRef).inspect()).HostConfig.PortBindings as Record<string, Array<{ HostIp: string }>>;
    expect(bindings['8080/tcp']?.map((b) => b.HostIp)).toEqual(['127.0.0.1']);
    await specialize(tcp, h, 'node-hello', 'index.handler');
    expect(JSON.parse((await invoke(h, '/over-tcp')).body)).toMatchObject({ path: '/over-tcp' });
    expect((await tcp.list()).find((i) => i.instanceId === h.instanceId)?.endpoint).toEqual(h.endpoint);
    await tcp.stop(h.instanceId);
    await tcp.close();
  });
});
