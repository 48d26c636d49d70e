// The function is the attacker (docs/security.md), on a real Docker engine: it tries to point the
// gateway at another unix socket, to fill the host's disk through its socket dir, to reach the network
// with network 'none', and to take more CPU than `cpus` allows. Hostile images are the runtime image
// with another command, built here; the decoy is a unix socket this test owns, so "the gateway never
// dialled it" is counted, not assumed.

import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../core/paths.js';
import type { InstanceHandle, InstanceSpec } from '../../scheduler/backends/backend.js';
import { DockerBackend } from '../../scheduler/backends/docker.js';
import { SOCKET_DIR_CAP } from '../../scheduler/backends/socket-dir.js';
import { Instance } from '../../scheduler/instance.js';
import { callEndpoint } from '../support/endpoint-call.js';
import { startDecoySocket, type DecoySocket } from '../support/decoy-socket.js';
import { instanceSpec } from '../support/instance-spec.js';
import { DOCKER_SOCKET, missing, RUNTIME_IMAGES } from '../support/services.js';

const FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'functions');
const PLATFORM = `test-hostile-${process.pid}`;
const IMAGES = { symlink: `stratus-test/hostile-symlink:${process.pid}`, fill: `stratus-test/hostile-fill:${process.pid}` };
let n = 0;

const spec = (over: Partial<InstanceSpec> = {}): InstanceSpec => instanceSpec('ht', { memoryMb: 128, ...over });

/** The runtime image with another command: what a user's own image may do before any runtime runs. */
function buildImage(tag: string, cmd: string[]): void {
  execFileSync('docker', ['build', '-q', '-t', tag, '-'], {
    input: `FROM ${RUNTIME_IMAGES.node}\nCMD ${JSON.stringify(cmd)}\n`,
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  });
}

describe.skipIf(await missing('docker', 'runtime-images'))('a hostile instance cannot escape through its socket, disk, network or CPU', () => {
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  let runDir: string;
  let decoy: DecoySocket;
  let backend: DockerBackend;

  const call = (h: InstanceHandle, p: string, timeoutMs = 10_000) => callEndpoint(h.endpoint, { path: p, headers: { 'x-stratus-request-id': `req-${++n}` }, timeoutMs });

  async function specialized(over: Partial<InstanceSpec> = {}): Promise<InstanceHandle> {
    const h = await backend.start(spec(over));
    const staged = await backend.stageCode(h, path.join(FIXTURES, 'node-sandbox-probe'));
    const init = await callEndpoint(h.endpoint, { method: 'POST', path: '/init', body: JSON.stringify({ ...staged, handler: 'index.handler', function: 'probe', version: 1, env: {} }) });
    expect(init.status, init.body).toBe(200);
    return h;
  }

  beforeAll(async () => {
    runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-ht-'));
    decoy = await startDecoySocket();
    buildImage(IMAGES.symlink, ['node', '-e', "require('fs').symlinkSync(process.env.TARGET, process.env.STRATUS_SOCKET); setInterval(() => {}, 1e9)"]);
    // Writes up to 1 GiB into the socket dir, then runs the real runtime, which must still bind.
    buildImage(IMAGES.fill, ['node', '-e', "const fs = require('fs'); const b = Buffer.alloc(1 << 20, 1); try { for (let i = 0; i < 1024; i++) fs.appendFileSync('/run/stratus/sock/fill', b) } catch {} import('/opt/stratus/runtime/runtime.mjs')"]);
    backend = new DockerBackend({ docker, runDir, platformId: PLATFORM, startTimeoutMs: 8000, stopGraceMs: 500 });
  });

  afterAll(async () => {
    await backend?.close();
    const left = await docker.listContainers({ all: true, filters: { label: [`dev.stratus.platform=${PLATFORM}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
    for (const image of Object.values(IMAGES)) await docker.getImage(image).remove({ force: true }).catch(() => {});
    await decoy?.close();
    await fs.rm(runDir, { recursive: true, force: true });
  });

  it.each([
    ['a decoy socket of the host', () => decoy.path],
    ['the Docker API socket', () => DOCKER_SOCKET],
  ])('an instance whose socket is a symlink to %s fails to start and is never dialled', async (_what, target) => {
    const before = decoy.connections;
    const id = `ht${process.pid}-${++n}`;
    const err = await backend.start(spec({ instanceId: id, role: 'function', function: 'evil', version: 1, image: IMAGES.symlink, env: { TARGET: target() } })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INSTANCE_START_FAILED' });
    expect((err as Error).message).toMatch(/socket cannot be trusted.*symbolic link/);
    expect(decoy.connections).toBe(before);
    // Removed, not left running for a later adoption.
    expect(await docker.listContainers({ all: true, filters: { label: [`dev.stratus.instance=${id}`] } })).toEqual([]);
    await expect(fs.access(path.join(runDir, id))).rejects.toThrow();
  });

  it('once sealed, the socket dir refuses every change the function tries, and calls still reach the runtime', async () => {
    const h = await specialized();
    const tamper = JSON.parse((await call(h, '/tamper')).body) as Record<string, string>;
    expect(tamper).toEqual({ unlink: 'EACCES', rename: 'EACCES', symlink: 'EACCES', create: 'EACCES', chmodDir: 'EPERM' });
    const st = await fs.lstat(path.join(runDir, h.instanceId, 'sock'));
    expect({ uid: st.uid, mode: st.mode & 0o777 }).toEqual({ uid: process.getuid?.() === 0 ? 0 : st.uid, mode: 0o755 });
    expect((await call(h, '/whoami')).status).toBe(200);
    await backend.stop(h.instanceId);
  });

  it('writes to the socket dir stop at the cap and never reach the host disk; the runtime still binds', async () => {
    const h = await backend.start(spec({ image: IMAGES.fill }));
    const fill = await fs.stat(path.join(runDir, h.instanceId, 'sock', 'fill'));
    if (process.getuid?.() === 0) expect(fill.size).toBeLessThanOrEqual(SOCKET_DIR_CAP.bytes);
    else expect(fill.size).toBeGreaterThan(0); // without root there is no tmpfs to cap it (README says so)
    expect((await callEndpoint(h.endpoint, { path: '/healthz' })).status).toBe(200);
    await backend.stop(h.instanceId);
    await expect(fs.access(path.join(runDir, h.instanceId))).rejects.toThrow();
  });

  it('a connection is refused once the socket entry is no longer the one sealed', async () => {
    const h = await specialized();
    const inst = new Instance(h, 1, 'container');
    const viaAgent = () => new Promise<string>((resolve) => {
      const req = (inst.agent as unknown as { createConnection: (o: object, cb: (err: Error | null) => void) => unknown }).createConnection({ path: (h.endpoint as { socketPath: string }).socketPath }, (err) => resolve(err ? err.name : 'ok'));
      if (req && typeof (req as net.Socket).destroy === 'function') {
        (req as net.Socket).destroy();
        resolve('ok');
      }
    });
    expect(await viaAgent()).toBe('ok');
    // Stratus itself (root) swaps the entry: the function cannot, but a bug or another host process could.
    const socketPath = path.join(runDir, h.instanceId, 'sock', 'runtime.sock');
    await fs.rename(socketPath, `${socketPath}.old`);
    await fs.symlink(decoy.path, socketPath);
    const before = decoy.connections;
    expect(await viaAgent()).toBe('UntrustedSocketError');
    expect(decoy.connections).toBe(before);
    inst.dispose();
    await backend.stop(h.instanceId);
  });

  it('network "none": only loopback, and an outbound connection fails at once for lack of a route', async () => {
    const none = await specialized({ network: 'none' });
    const body = JSON.parse((await call(none, '/network?connect=1')).body) as { interfaces: string[]; connect: string; ms: number };
    expect(body.interfaces).toEqual(['lo']);
    expect(body.connect).toBe('ENETUNREACH');
    expect((await docker.getContainer(none.backendRef).inspect()).HostConfig.NetworkMode).toBe('none');
    await backend.stop(none.instanceId);
    // The default keeps an interface beside loopback (nothing is sent from it here).
    const egress = await specialized();
    expect((JSON.parse((await call(egress, '/network')).body) as { interfaces: string[] }).interfaces.length).toBeGreaterThan(1);
    await backend.stop(egress.instanceId);
  });

  it('a busy loop with cpus 0.5 gets about half a core, set at start or when a stem is specialized', async () => {
    for (const how of ['start', 'update'] as const) {
      const h = how === 'start' ? await specialized({ cpus: 0.5 }) : await specialized();
      if (how === 'update') await backend.setLimits(h.instanceId, { memoryMb: 128, cpus: 0.5 });
      const container = docker.getContainer(h.backendRef);
      expect((await container.inspect()).HostConfig.NanoCpus).toBe(500_000_000);
      const usage = async () => ((await container.stats({ stream: false })) as { cpu_stats: { cpu_usage: { total_usage: number } } }).cpu_stats.cpu_usage.total_usage;
      const u0 = await usage();
      const t0 = process.hrtime.bigint();
      expect((await call(h, '/spin?ms=3000', 20_000)).status).toBe(200);
      const cores = (await usage() - u0) / Number(process.hrtime.bigint() - t0);
      // A quota of 0.5 core: uncapped, one busy thread would show ~1.0 here.
      expect(cores).toBeLessThan(0.65);
      expect(cores).toBeGreaterThan(0.2);
      await backend.stop(h.instanceId);
    }
  });
});
