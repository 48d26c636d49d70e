// The per-function isolation settings through the whole platform: `network: "none"` and `cpus` are
// validated at deploy, reach the container that serves the function URL, and a `none` function never
// starts from a stem (a stem's network interface cannot be taken away).

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, tarGzOf, waitForBuild } from '../support/platform-client.js';
import { DOCKER_SOCKET, missing } from '../support/services.js';

const PROBE = path.resolve('test/fixtures/functions/node-sandbox-probe');

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('function isolation settings (Docker, Redis, registry)', () => {
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  const name = `iso-${Date.now().toString(36)}`;
  let stateDir: string;
  let platform: RunningPlatform;
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, ...init.headers } });

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-iso-'));
    platform = await startPlatform(e2eConfig(stateDir), silentLogger);
  });

  afterAll(async () => {
    if (platform) {
      await api(`/v1/functions/${name}`, { method: 'DELETE' });
      await platform.stop();
    }
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it.each([
    [{ network: 'open' }, 'config.network'],
    [{ cpus: 0 }, 'config.cpus'],
    [{ cpus: 'half' }, 'config.cpus'],
  ])('refuses %j with 400 naming %s', async (extra, field) => {
    const res = await deployFunction(platform, { name, runtime: 'node', ...extra }, { file: 'index.js', content: 'export default () => 1' });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    expect((await res.json()).field).toBe(field);
  });

  it('network "none" and cpus 0.5 reach the container behind the function URL', async () => {
    const res = await deployFunction(platform, { name, runtime: 'node', handler: 'index.handler', network: 'none', cpus: 0.5 }, { file: 'probe.tar.gz', content: await tarGzOf(PROBE) });
    expect(res.status).toBe(202);
    const build = await waitForBuild(platform, (await res.json()).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');

    const call = await fetch(`${platform.url}/fn/${name}/network?connect=1`);
    expect(call.status).toBe(200);
    expect(await call.json()).toMatchObject({ interfaces: ['lo'], connect: 'ENETUNREACH' });

    const { instances } = await (await api(`/v1/functions/${name}/instances`)).json();
    expect(instances.map((i: { startKind: string }) => i.startKind)).toEqual(['container']);
    const [container] = await docker.listContainers({ filters: { label: [`dev.stratus.function=${name}`] } });
    const info = await docker.getContainer(container!.Id).inspect();
    expect(info.HostConfig.NetworkMode).toBe('none');
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect((await (await api(`/v1/functions/${name}`)).json()).config).toMatchObject({ network: 'none', cpus: 0.5 });
  });
});
