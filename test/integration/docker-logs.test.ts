// The Docker backend as a log source, against a real engine: a stem's lines before /init belong to no
// function and the specialized instance's to its version; an instance found by list() is followed from
// then on; nothing is streamed while nobody listens; stop() and close() leave no stream open.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceHandle, InstanceLogLine, InstanceSpec } from '../../scheduler/backends/backend.js';
import { DockerBackend } from '../../scheduler/backends/docker.js';
import { callEndpoint } from '../support/endpoint-call.js';
import { until } from '../support/until.js';
import { DOCKER_SOCKET, missing, RUNTIME_IMAGES } from '../support/services.js';

const PLATFORM = `test-logs-${process.pid}`;
let n = 0;

const stemSpec = (): InstanceSpec => ({
  instanceId: `dl${process.pid}-${++n}`, role: 'stem', runtime: 'node', function: null, version: null,
  image: RUNTIME_IMAGES.node, artifactDir: null, handler: null, memoryMb: 128, env: {},
});


describe.skipIf(await missing('docker', 'runtime-images'))('docker backend: instance logs', () => {
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  let runDir: string;
  let codeDir: string;
  let backend: DockerBackend;
  const lines: InstanceLogLine[] = [];

  const specialize = async (b: DockerBackend, h: InstanceHandle) => {
    const staged = await b.stageCode({ ...h, role: 'function', function: 'talker', version: 7 }, codeDir);
    const init = await callEndpoint(h.endpoint, { method: 'POST', path: '/init', body: JSON.stringify({ ...staged, handler: 'index.handler', function: 'talker', version: 7, env: {} }) });
    expect(init.status, init.body).toBe(200);
  };
  const invoke = (h: InstanceHandle, rid: string) => callEndpoint(h.endpoint, { path: `/?say=${rid}`, headers: { 'x-stratus-request-id': rid } });

  beforeAll(async () => {
    runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-dl-'));
    codeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-dl-code-'));
    await fs.writeFile(path.join(codeDir, 'index.js'), 'export default async (event) => { console.log(`said ${event.query.say}`); return "ok"; }');
    await fs.writeFile(path.join(codeDir, 'package.json'), '{}');
    backend = new DockerBackend({ docker, runDir, platformId: PLATFORM, startTimeoutMs: 20_000, stopGraceMs: 1000 });
  });

  afterAll(async () => {
    await backend.close();
    const left = await docker.listContainers({ all: true, filters: { label: [`dev.stratus.platform=${PLATFORM}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
    await fs.rm(runDir, { recursive: true, force: true });
    await fs.rm(codeDir, { recursive: true, force: true });
  });

  it('opens no stream while nobody listens', async () => {
    const h = await backend.start(stemSpec());
    expect(backend.openLogStreams).toBe(0);
    await backend.stop(h.instanceId);
  });

  it('attributes a stem\'s lines to no function until it is specialized, then to its version', async () => {
    const off = backend.onLog((l) => lines.push(l));
    const h = await backend.start(stemSpec());
    const started = await until('the runtime\'s start line', () => lines.find((l) => l.instanceId === h.instanceId && l.text.startsWith('stratus-runtime: listening')));
    expect(started).toMatchObject({ function: null, version: null, stream: 'stderr' });
    expect(backend.openLogStreams).toBe(1);

    await specialize(backend, h);
    expect((await invoke(h, 'r-1')).status).toBe(200);
    const said = await until('the invocation\'s line', () => lines.find((l) => l.instanceId === h.instanceId && l.text.includes('said r-1')));
    expect(said).toMatchObject({ function: 'talker', version: 7, stream: 'stdout' });
    expect(JSON.parse(said.text)).toEqual({ rid: 'r-1', level: 'info', msg: 'said r-1' });

    await backend.stop(h.instanceId);
    await until('the stream to end', () => (backend.openLogStreams === 0 ? true : undefined), 3000);
    off();
  });

  it('follows an instance a fresh backend finds in list() from then on, until close()', async () => {
    const h = await backend.start(stemSpec());
    await specialize(backend, h);
    expect((await invoke(h, 'before')).status).toBe(200);

    const fresh = new DockerBackend({ docker, runDir, platformId: PLATFORM });
    const seen: InstanceLogLine[] = [];
    fresh.onLog((l) => seen.push(l));
    expect((await fresh.list()).map((i) => i.instanceId)).toContain(h.instanceId);
    await until('the stream to open', () => (fresh.openLogStreams === 1 ? true : undefined));
    expect((await invoke(h, 'after')).status).toBe(200);
    const after = await until('the line written after list()', () => seen.find((l) => l.text.includes('said after')));
    expect(after).toMatchObject({ instanceId: h.instanceId, function: 'talker', version: 7 });
    expect(seen.some((l) => l.text.includes('said before'))).toBe(false);

    await fresh.close();
    await fresh.close();
    expect(fresh.openLogStreams).toBe(0);
    await backend.stop(h.instanceId);
  });
});
