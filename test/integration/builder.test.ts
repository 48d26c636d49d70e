// The builder against real Docker, the runtime images and the registry: upload → install in a runtime
// container → image → push; the pushed image answers over a unix socket (never a bridge address).

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Builder } from '../../builder/builder.js';
import { createBuilder } from '../../builder/index.js';
import { RegistryClient } from '../../builder/registry.js';
import { loadConfig } from '../../core/config.js';
import { parseFunctionConfig } from '../../core/function-config.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import type { BuildRecord } from '../../core/types.js';
import { makeTar } from '../fixtures/archives/make-archives.js';
import { DOCKER_SOCKET, REGISTRY, RUNTIME_IMAGES, missing } from '../support/services.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/functions');
const PREFIX = `stratus-it-${crypto.randomBytes(3).toString('hex')}`;

describe.skipIf(await missing('docker', 'registry', 'runtime-images'))('builder on Docker + registry', () => {
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  const registry = new RegistryClient(REGISTRY);
  const store = new MemoryStore();
  let stateDir: string;
  let builder: Builder;
  const containers: Docker.Container[] = [];
  let seq = 0;

  beforeAll(() => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-builder-it-'));
    const cfg = loadConfig({
      STRATUS_STATE_DIR: stateDir,
      STRATUS_REGISTRY: REGISTRY,
      STRATUS_IMAGE_PREFIX: PREFIX,
      STRATUS_RUNTIME_IMAGE_NODE: RUNTIME_IMAGES.node,
      STRATUS_RUNTIME_IMAGE_PYTHON: RUNTIME_IMAGES.python,
      STRATUS_BUILD_CA_FILE: process.env.NODE_EXTRA_CA_CERTS,
    });
    builder = createBuilder({ store, docker, build: cfg.build, images: cfg.images, stateDir, logger: silentLogger });
  });

  afterAll(async () => {
    for (const c of containers) await c.remove({ force: true }).catch(() => {});
    for (const fn of ['nodedep', 'pyhello', 'badnpm']) await builder?.purge(fn);
    await builder?.close();
    await store.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  /** Packs a fixture folder as a tar.gz and does what the gateway does before submit. */
  async function uploadFixture(name: string, runtime: 'node' | 'python', files: Record<string, string>): Promise<string> {
    const config = parseFunctionConfig({ name, runtime });
    const version = await store.nextVersion(name);
    const buildId = `it-${++seq}-${crypto.randomBytes(3).toString('hex')}`;
    const dir = path.join(stateDir, 'uploads', buildId);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'code.tar.gz'), await makeTar(Object.entries(files).map(([n, data]) => ({ name: n, data })), true));
    const now = new Date().toISOString();
    await store.putFunction({ name, config, currentVersion: null, latestVersion: version, createdAt: now, updatedAt: now });
    await store.putVersion({ function: name, version, config, status: 'building', image: null, artifactDir: null, buildId, createdAt: now });
    await store.putBuild({ id: buildId, function: name, version, status: 'queued', createdAt: now, startedAt: null, finishedAt: null, timings: {}, image: null, error: null });
    await builder.submit({ buildId, function: name, version, config, sourcePath: path.join(dir, 'code.tar.gz'), sourceName: 'code.tar.gz' });
    return buildId;
  }

  const fixture = (name: string) =>
    Object.fromEntries(fs.readdirSync(path.join(FIXTURES, name)).filter((f) => !f.startsWith('__')).map((f) => [f, fs.readFileSync(path.join(FIXTURES, name, f), 'utf8')]));

  async function finished(buildId: string): Promise<BuildRecord> {
    for (let i = 0; i < 1200; i++) {
      const b = await store.getBuild(buildId);
      if (b && (b.status === 'succeeded' || b.status === 'failed')) return b;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`build ${buildId} did not finish`);
  }

  it('builds node-dep: the image is in the registry as v1 and answers with the dependency at work', async () => {
    const id = await uploadFixture('nodedep', 'node', fixture('node-dep'));
    const b = await finished(id);
    const log = (await store.readBuildLog(id)).text;
    expect(b.error, log).toBeNull();
    expect(b.status).toBe('succeeded');
    expect(b.image).toBe(`${REGISTRY}/${PREFIX}/nodedep:v1`);
    expect(await registry.catalog()).toContain(`${PREFIX}/nodedep`);
    expect(await registry.tags(`${PREFIX}/nodedep`)).toEqual(['v1']);
    expect(log).toMatch(/^\[install\] .*added 1 package/m);

    // Run the pushed image on no network at all, reached through a unix socket in a mounted host dir.
    const sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-sock-'));
    fs.chmodSync(sockDir, 0o777);
    const container = await docker.createContainer({
      Image: b.image!,
      Env: ['STRATUS_SOCKET=/run/stratus/rt.sock'],
      HostConfig: { Binds: [`${sockDir}:/run/stratus`], NetworkMode: 'none', ReadonlyRootfs: true, Tmpfs: { '/tmp': '' } },
    });
    containers.push(container);
    await container.start();
    const socketPath = path.join(sockDir, 'rt.sock');
    let health = 0;
    for (let i = 0; i < 200 && health !== 200; i++) {
      health = fs.existsSync(socketPath) ? (await get(socketPath, '/healthz')).status : 0;
      if (health !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(health).toBe(200);
    const yes = await get(socketPath, '/?value=42');
    expect(yes.status).toBe(200);
    expect(JSON.parse(yes.body)).toEqual({ value: '42', isNumber: true, dependency: 'is-number' });
    expect(JSON.parse((await get(socketPath, '/?value=abc')).body).isNumber).toBe(false);
    await container.remove({ force: true });
    fs.rmSync(sockDir, { recursive: true, force: true });
  });

  it('builds a Python function', async () => {
    const b = await finished(await uploadFixture('pyhello', 'python', fixture('python-hello')));
    expect(b.error).toBeNull();
    expect(await registry.tags(`${PREFIX}/pyhello`)).toEqual(['v1']);
    const v = await store.getVersion('pyhello', 1);
    expect(fs.existsSync(path.join(v!.artifactDir!, 'main.py'))).toBe(true);
  });

  it('a failing npm install fails the build clearly, with npm\'s own output in the log', async () => {
    const pkg = JSON.stringify({ name: 'bad', version: '1.0.0', dependencies: { 'stratus-no-such-package-4b1d9e': '1.0.0' } });
    const id = await uploadFixture('badnpm', 'node', { 'index.js': 'exports.handler = () => 1', 'package.json': pkg });
    const b = await finished(id);
    expect(b).toMatchObject({ status: 'failed', error: 'npm install exited with code 1: see the build log', image: null });
    expect((await store.readBuildLog(id)).text).toMatch(/^\[install\] npm (error|ERR!).*404/m);
    expect((await store.getVersion('badnpm', 1))!.status).toBe('failed');
  });

  it('purge removes the tag from the registry and the local image', async () => {
    expect(await registry.tags(`${PREFIX}/nodedep`)).toContain('v1');
    await builder.purge('nodedep');
    expect(await registry.tags(`${PREFIX}/nodedep`)).not.toContain('v1');
    const local = await docker.listImages({ filters: JSON.stringify({ reference: [`${REGISTRY}/${PREFIX}/nodedep`] }) });
    expect(local).toEqual([]);
    expect(fs.existsSync(path.join(stateDir, 'artifacts/nodedep'))).toBe(false);
  });
});

function get(socketPath: string, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: p, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
  });
}
