// Docker stems that fetch their code over HTTP (STRATUS_STEM_CODE=http): the code route on a unix socket in
// a dir every stem mounts read-only, signed URLs naming a fake host the socket stands for, the real runtime
// images. The container reaches Stratus with no network address: not the bridge, not a published port.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFunctionConfig } from '../../core/function-config.js';
import { systemClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { MemoryStore } from '../../core/store/memory.js';
import { CODE_SOCKET_HOST, listenOnCodeSocket, stemCode } from '../../platform/boot/stem-code.js';
import { DockerBackend } from '../../scheduler/backends/docker.js';
import { callEndpoint } from '../support/endpoint-call.js';
import { instanceSpec } from '../support/instance-spec.js';
import { DOCKER_SOCKET, missing, RUNTIME_IMAGES } from '../support/services.js';

const FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'functions');
const PLATFORM = `test-stem-code-${process.pid}`;

describe.skipIf(await missing('docker', 'runtime-images'))('docker stems with code over HTTP', () => {
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  const store = new MemoryStore();
  let dir: string;
  let backend: DockerBackend;
  let socket: Awaited<ReturnType<typeof listenOnCodeSocket>>;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-dsc-'));
    const code = stemCode({ store, apiKey: 'the admin key of this test platform', artifacts: null, clock: systemClock, logger: silentLogger });
    socket = await listenOnCodeSocket(code.route, path.join(dir, 'code'), silentLogger);
    backend = new DockerBackend({ docker, runDir: path.join(dir, 'run'), platformId: PLATFORM, startTimeoutMs: 20_000, stopGraceMs: 500, codeOverHttp: { urls: code.urls(CODE_SOCKET_HOST), socketDir: socket.socketDir } });
    // The code route finds a version's code through its record, as on a platform.
    for (const [fn, fixture, runtime] of [['hello', 'node-hello', 'node'], ['pyhello', 'python-hello', 'python']] as const) {
      const config = parseFunctionConfig({ name: fn, runtime, handler: runtime === 'node' ? 'index.handler' : 'main.handler' });
      await store.putVersion({ function: fn, version: 1, config, status: 'ready', image: null, artifactDir: path.join(FIXTURES, fixture), buildId: `b-${fn}`, createdAt: new Date().toISOString() });
    }
  });
  afterAll(async () => {
    // Through the backend: it unmounts each instance's socket tmpfs before removing the dir.
    for (const i of await backend.list()) await backend.stop(i.instanceId, { graceMs: 0 });
    await backend.close();
    const left = await docker.listContainers({ all: true, filters: { label: [`dev.stratus.platform=${PLATFORM}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
    await socket.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it.each([
    { runtime: 'node' as const, fn: 'hello', handler: 'index.handler', greeting: 'hello from node' },
    { runtime: 'python' as const, fn: 'pyhello', handler: 'main.handler', greeting: 'hello from python' },
  ])('a $runtime stem loads its version from a signed URL through the mounted socket', async ({ runtime, fn, handler, greeting }) => {
    const h = await backend.start(instanceSpec('dsc', { runtime, image: RUNTIME_IMAGES[runtime] }));
    const staged = await backend.stageCode({ ...h, role: 'function', function: fn, version: 1 }, path.join(FIXTURES, 'unused'));
    expect(staged).toMatchObject({ codeUrl: expect.stringMatching(/^http:\/\/stratus\.code\/internal\/code\/\w+\/1\?expires=\d+&sig=[0-9a-f]{64}$/), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const init = await callEndpoint(h.endpoint, { method: 'POST', path: '/init', body: JSON.stringify({ ...staged, handler, function: fn, version: 1, env: {} }) });
    expect(init.status, init.body).toBe(200);
    const res = await callEndpoint(h.endpoint, { path: '/x', headers: { 'x-stratus-request-id': `r-${runtime}` } });
    expect(JSON.parse(res.body)).toMatchObject({ message: greeting, function: fn, version: 1 });
    // No hard links were made: the instance dir has no code/.
    await expect(fs.stat(path.join(backend.runDir, h.instanceId, 'code'))).rejects.toMatchObject({ code: 'ENOENT' });
    const inspect = await docker.getContainer(`stratus-${h.instanceId}`).inspect();
    expect(inspect.HostConfig.Binds).toContain(`${socket.socketDir}:/run/stratus-code:ro`);
    await backend.stop(h.instanceId, { graceMs: 0 });
  });
});
