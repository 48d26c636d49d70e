// A function name's length must not decide whether its instances can start. Instance ids used to embed
// the whole name, so a valid name of 63 characters deployed fine and then failed at its first new
// instance (the unix socket path past 107 bytes). Ids now keep a bounded prefix of the name; a name
// past the limit is refused at deploy time, naming the field.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { ASSUMED_MAX_ID_LENGTH } from '../../scheduler/backends/instance-dir.js';
import { functionInstanceId } from '../../scheduler/instance-id.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing } from '../support/services.js';

const HELLO = path.resolve('test/fixtures/functions/node-hello/index.js');
const KEY = 'long-name-key-0123456789';
const longest = (prefix: string) => `${prefix}-${'x'.repeat(61 - prefix.length)}9`; // 63 characters

let platform: RunningPlatform | undefined;
let stateDir: string | undefined;
afterEach(async () => {
  await platform?.stop();
  platform = undefined;
  if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  stateDir = undefined;
});

async function deployAndCall(p: RunningPlatform, name: string): Promise<Response> {
  const res = await deployFunction(p, { name, runtime: 'node' }, { file: 'hello.js', content: await fs.readFile(HELLO) });
  expect(res.status).toBe(202);
  const build = await waitForBuild(p, (await res.json()).buildId);
  expect(build.status, build.error ?? '').toBe('succeeded');
  return fetch(`${p.url}/fn/${name}`);
}

describe('instance ids', () => {
  it('stay within the length every backend plans for, whatever the name and version', () => {
    const id = functionInstanceId('a'.repeat(63), Number.MAX_SAFE_INTEGER);
    expect(id.length).toBeLessThanOrEqual(ASSUMED_MAX_ID_LENGTH);
    expect(id).toMatch(/^[a-z][a-z0-9-]*$/); // a directory, a container and a pod name alike
    expect(functionInstanceId('hello', 3)).toMatch(/^hello-v3-[0-9a-f]{12}$/);
  });
});

describe('a 63-character function name on the process backend, without stems', () => {
  it('deploys and serves from a new instance; 64 characters are refused at deploy with the field named', async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-longname-'));
    platform = await startPlatform(
      loadConfig({ STRATUS_PORT: '0', STRATUS_STATE_DIR: stateDir, STRATUS_API_KEY: KEY, STRATUS_STORE: 'memory', STRATUS_BACKEND: 'process', STRATUS_STEM_POOL_SIZE: '0', PATH: process.env.PATH, HOME: process.env.HOME }),
      silentLogger,
    );
    const name = longest('proc');
    const call = await deployAndCall(platform, name);
    expect(call.status, await call.clone().text()).toBe(200);
    expect(await call.json()).toMatchObject({ message: 'hello from node' });

    const tooLong = await deployFunction(platform, { name: `${name}z`, runtime: 'node' }, { file: 'hello.js', content: await fs.readFile(HELLO) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await tooLong.json()).toMatchObject({ code: 'INVALID_CONFIG', field: 'config.name' });
  });
});

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('a 63-character function name on Docker', () => {
  it('serves from a new container (no stem), whose socket path fits', async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-longname-'));
    platform = await startPlatform(e2eConfig(stateDir, { STRATUS_STEM_POOL_SIZE: '0' }), silentLogger);
    const name = longest(`dk${Date.now().toString(36)}`);
    const call = await deployAndCall(platform, name);
    expect(call.status, await call.clone().text()).toBe(200);
    await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
  });
});
