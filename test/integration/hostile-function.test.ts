// A function uploaded like any other tries, as soon as its code loads, to swap its runtime's socket for
// a symlink to a socket of the host (a decoy this test owns, and the Docker API socket). Whether it runs
// in a stem (code loaded after the seal) or in a fresh container (code loaded while the gateway seals:
// a race either side may win), the gateway never dials anything but the runtime's own socket, the
// function's calls answer or fail on their own, and a neighbour keeps answering.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { startDecoySocket, type DecoySocket } from '../support/decoy-socket.js';
import { DOCKER_SOCKET, missing } from '../support/services.js';

/** Keeps trying the swap for a second, from the first line of the module on. */
const swapper = (target: string) => `
import fs from 'node:fs';
const sock = process.env.STRATUS_SOCKET;
const attempts = [];
const until = Date.now() + 1000;
while (Date.now() < until) {
  try {
    fs.renameSync(sock, sock + '.real');
    fs.symlinkSync(${JSON.stringify(target)}, sock);
    attempts.push('swapped');
    break;
  } catch (err) {
    if (attempts.at(-1) !== err.code) attempts.push(err.code);
  }
}
export default async () => ({ attempts });
`;

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('a function that swaps its socket (Docker, Redis, registry)', () => {
  const suffix = Date.now().toString(36);
  const names = { neighbour: `calm-${suffix}`, stem: `swap-stem-${suffix}`, fresh: `swap-fresh-${suffix}`, docker: `swap-docker-${suffix}` };
  let stateDir: string;
  let decoy: DecoySocket;
  let platform: RunningPlatform;

  async function deploy(name: string, source: string, extra: Record<string, unknown> = {}): Promise<void> {
    const res = await deployFunction(platform, { name, runtime: 'node', ...extra }, { file: 'index.mjs', content: source });
    expect(res.status).toBe(202);
    const build = await waitForBuild(platform, (await res.json()).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
  }

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-swap-'));
    decoy = await startDecoySocket();
    platform = await startPlatform(e2eConfig(stateDir, { STRATUS_INSTANCE_START_TIMEOUT_MS: '5000' }), silentLogger);
    await deploy(names.neighbour, 'export default async () => "calm"');
  });

  afterAll(async () => {
    if (platform) {
      for (const name of Object.values(names)) await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
      await platform.stop();
    }
    await decoy?.close();
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  async function callHostile(name: string): Promise<{ status: number; body: string }> {
    // /version: what the Docker API would answer with its version, were it ever reached.
    const res = await fetch(`${platform.url}/fn/${name}/version`);
    const body = await res.text();
    expect(body).not.toMatch(/ApiVersion|decoy/);
    const neighbour = await fetch(`${platform.url}/fn/${names.neighbour}`);
    expect(neighbour.status).toBe(200);
    expect(await neighbour.text()).toBe('calm');
    return { status: res.status, body };
  }

  /** A start takes a stem only when one is ready; without one it is a fresh container, where the swap races the seal. */
  async function nodeStemReady(): Promise<void> {
    for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
      const res = await fetch(`${platform.url}/metrics`, { headers: { authorization: `Bearer ${platform.apiKey}` } });
      if (/^stratus_stems_ready\{runtime="node"\} [1-9]/m.test(await res.text())) return;
    }
    throw new Error('no node stem became ready within 30 s');
  }

  it('loaded into a stem (after the seal): every swap is refused and the function still answers', async () => {
    // The neighbour's load check took the stem there was; its replacement must be ready before this one's.
    await nodeStemReady();
    await deploy(names.stem, swapper(decoy.path));
    const { status, body } = await callHostile(names.stem);
    expect(status).toBe(200);
    expect(JSON.parse(body)).toEqual({ attempts: ['EACCES'] });
    expect(decoy.connections).toBe(0);
  });

  it.each([
    ['fresh', () => decoy.path],
    ['docker', () => DOCKER_SOCKET],
  ] as const)('in a fresh container (%s target; racing the seal): never dialled, and a won race only fails its own calls', async (which, target) => {
    // network "none" never starts from a stem: the code loads while the gateway seals the socket dir.
    const name = names[which];
    await deploy(name, swapper(target()), { network: 'none' });
    for (let i = 0; i < 3; i++) {
      const { status, body } = await callHostile(name);
      if (status === 200) expect(JSON.parse(body).attempts).not.toContain('swapped');
      else expect([502, 503]).toContain(status);
    }
    expect(decoy.connections).toBe(0);
  });
});
