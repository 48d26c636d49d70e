// A function uploaded like any other tries, as soon as its code loads, to swap its runtime's socket for
// a symlink to a socket of the host (a decoy this test owns, and the Docker API socket). Whether it runs
// in a stem (code loaded after the seal) or in a fresh container (code loaded while the gateway seals:
// a race either side may win), the gateway never dials anything but the runtime's own socket, the
// function's calls answer or fail on their own, and a neighbour keeps answering.
//
// Every deploy first runs a load check in a container of its own (never a stem), where a swap at load races
// the seal: a won race fails the build — a correct refusal. So the stem case's code swaps only when its
// process is older than a fresh container's ever is at load (a stem waits, started, before it is given
// code), and its calls make a second instance start — from the stem the test waited for.

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

/** A stem is this old at least when it loads code (the test waits that long after the stem is ready); a fresh container never is. */
const STEM_AGE_S = 3;

/** Keeps trying the swap for a second, from the first line of the module on (only in an old process, with onlyInStem). */
const swapper = (target: string, opts: { onlyInStem?: boolean } = {}) => `
import fs from 'node:fs';
const sock = process.env.STRATUS_SOCKET;
const attempts = [];
const until = Date.now() + 1000;
while (${opts.onlyInStem ? `process.uptime() > ${STEM_AGE_S} && ` : ''}Date.now() < until) {
  try {
    fs.renameSync(sock, sock + '.real');
    fs.symlinkSync(${JSON.stringify(target)}, sock);
    attempts.push('swapped');
    break;
  } catch (err) {
    if (attempts.at(-1) !== err.code) attempts.push(err.code);
  }
}
export default async (event) => { await new Promise((r) => setTimeout(r, event.query?.slow ? 4000 : 0)); return { attempts }; };
`;

const UNTRUSTED = /socket cannot be trusted/;

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('a function that swaps its socket (Docker, Redis, registry)', () => {
  const suffix = Date.now().toString(36);
  const names = { neighbour: `calm-${suffix}`, stem: `swap-stem-${suffix}`, fresh: `swap-fresh-${suffix}`, docker: `swap-docker-${suffix}` };
  let stateDir: string;
  let decoy: DecoySocket;
  let platform: RunningPlatform;

  /** Deploys and waits for the build's end: succeeded, or failed by the load check's refusal of a swapped socket. */
  async function deploy(name: string, source: string, extra: Record<string, unknown> = {}): Promise<'succeeded' | 'refused'> {
    const res = await deployFunction(platform, { name, runtime: 'node', ...extra }, { file: 'index.mjs', content: source });
    expect(res.status).toBe(202);
    const build = await waitForBuild(platform, (await res.json()).buildId);
    if (build.status === 'failed' && UNTRUSTED.test(build.error ?? '')) return 'refused';
    expect(build.status, build.error ?? '').toBe('succeeded');
    return 'succeeded';
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

  async function callHostile(name: string, query = ''): Promise<{ status: number; body: string }> {
    // /version: what the Docker API would answer with its version, were it ever reached.
    const res = await fetch(`${platform.url}/fn/${name}/version${query}`);
    const body = await res.text();
    expect(body).not.toMatch(/ApiVersion|decoy/);
    const neighbour = await fetch(`${platform.url}/fn/${names.neighbour}`);
    expect(neighbour.status).toBe(200);
    expect(await neighbour.text()).toBe('calm');
    return { status: res.status, body };
  }

  /** A start takes a stem only when one is ready; the neighbour's load check and first call may have left none. */
  async function nodeStemReady(): Promise<void> {
    for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
      const res = await fetch(`${platform.url}/metrics`, { headers: { authorization: `Bearer ${platform.apiKey}` } });
      if (/^stratus_stems_ready\{runtime="node"\} [1-9]/m.test(await res.text())) return;
    }
    throw new Error('no node stem became ready within 30 s');
  }

  it('loaded into a stem (after the seal): every swap is refused and the function still answers', async () => {
    await callHostile(names.neighbour); // the neighbour's instance is up: nothing else takes the stem
    await nodeStemReady();
    await new Promise((r) => setTimeout(r, STEM_AGE_S * 1000));
    // The load check's own container (young: it does not try) passes; it stays as the first instance.
    expect(await deploy(names.stem, swapper(decoy.path, { onlyInStem: true }), { concurrency: 1, maxInstances: 2 })).toBe('succeeded');
    // Two slow calls at once on one instance of concurrency 1: the second makes a start, from the stem (ready
    // long before the first call's 4 s are over, so the second is not handed the first instance instead).
    // maxInstances 2: the autoscaler's panic would otherwise add a third start, a plain container, which can be
    // ready before the stem (its code's load takes a second of refused swaps) and take the waiting call.
    const answers = await Promise.all([callHostile(names.stem, '?slow=1'), callHostile(names.stem, '?slow=1')]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    const attempts = answers.map((a) => JSON.parse(a.body).attempts as string[]);
    expect(attempts).toContainEqual(['EACCES']); // the stem's: it tried, after the seal, and was refused
    expect(attempts.flat()).not.toContain('swapped');
    expect((await callHostile(names.stem)).status).toBe(200);
    expect(decoy.connections).toBe(0);
  });

  it.each([
    ['fresh', () => decoy.path],
    ['docker', () => DOCKER_SOCKET],
  ] as const)('in a fresh container (%s target; racing the seal): never dialled, and a won race only fails its own calls', async (which, target) => {
    // network "none" never starts from a stem: the code loads while the gateway seals the socket dir.
    const name = names[which];
    const deployed = await deploy(name, swapper(target()), { network: 'none' });
    for (let i = 0; i < 3; i++) {
      const { status, body } = await callHostile(name);
      if (status === 200) expect(JSON.parse(body).attempts).not.toContain('swapped');
      // Refused at its load check, it has no version to serve (503 FUNCTION_NOT_READY); a later start's won race fails its own call.
      else expect(deployed === 'refused' ? [503] : [502, 503]).toContain(status);
    }
    expect(decoy.connections).toBe(0);
  });
});
