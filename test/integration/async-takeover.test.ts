// Two Stratus processes as one platform: the same Redis prefix (and image prefix), each its own state
// dir, port and containers (dev.stratus.platform label from the state dir). A function deployed through
// one is served by both, the async work is shared between their BullMQ workers, and when one is killed
// with SIGKILL while it runs jobs the other takes them over: every invocation ends succeeded, with one
// record each. Neither process touches the other's containers or builds: B starting while A has an
// instance and a build in its install step leaves both alone.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { platformIdFor } from '../../core/platform-id.js';
import { deployFunction, tarGzOf, waitForBuild } from '../support/platform-client.js';
import { DOCKER_SOCKET, missing, REDIS_URL } from '../support/services.js';
import { asyncClient, removeLeftovers, removeRedisKeys, startStratus, type StratusProcess } from '../support/stratus-process.js';

const KEY = 'async-takeover-key-0123456789';
// Says which container ran it: Docker names a container's host after the container id.
const CODE = "import os from 'node:os';\nexport default async (event) => { const d = event.data ?? {}; await new Promise((r) => setTimeout(r, d.sleepMs ?? 0)); return { n: d.n ?? null, host: os.hostname() }; };\n";

const docker = new Docker({ socketPath: DOCKER_SOCKET });
const running: StratusProcess[] = [];
const dirs: string[] = [];
let prefix: string | undefined;
afterEach(async () => {
  for (const p of running.splice(0)) await p.kill('SIGTERM');
  await removeLeftovers(docker, dirs.splice(0));
  if (prefix) await removeRedisKeys(REDIS_URL, prefix);
  prefix = undefined;
});

/** The platform id on the container whose host name `host` is (the start of its id). */
async function platformOfHost(host: string): Promise<string | undefined> {
  const all = await docker.listContainers({ all: true, filters: { label: ['dev.stratus.platform'] } });
  return all.find((c) => c.Id.startsWith(host))?.Labels['dev.stratus.platform'];
}

async function runningContainer(host: string): Promise<boolean> {
  const all = await docker.listContainers({ filters: { label: ['dev.stratus.platform'] } });
  return all.some((c) => c.Id.startsWith(host) && c.State === 'running');
}

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('two Stratus processes on one Redis prefix (Docker, Redis)', () => {
  it('share the async work, leave each other\'s instances and builds alone, and one takes over when the other is killed', async () => {
    const run = randomBytes(4).toString('hex');
    prefix = `stratus-takeover-${run}:`;
    const stateA = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-takeover-a-'));
    const stateB = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-takeover-b-'));
    const codeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-takeover-code-'));
    dirs.push(stateA, stateB, codeDir);
    const [idA, idB] = [platformIdFor(stateA), platformIdFor(stateB)];
    // A short lock: a killed process's jobs are taken over within seconds rather than the default 30 s.
    const env = (stateDir: string) => ({
      STRATUS_STATE_DIR: stateDir, STRATUS_STORE: 'redis', STRATUS_BACKEND: 'docker', STRATUS_REDIS_PREFIX: prefix!, STRATUS_IMAGE_PREFIX: `stratus-takeover-${run}`,
      STRATUS_ASYNC_LOCK_MS: '2000', STRATUS_ASYNC_CONCURRENCY: '2', STRATUS_STEM_POOL_SIZE: '0',
    });
    const a = await startStratus(KEY, env(stateA));
    running.push(a);
    const at = { url: a.url, apiKey: KEY };
    const name = `takeover-${run}`;
    const deployed = await deployFunction(at, { name, runtime: 'node', timeoutMs: 60_000, concurrency: 2 }, { file: 'index.mjs', content: CODE });
    expect(deployed.status).toBe(202);
    const build = await waitForBuild(at, ((await deployed.json()) as { buildId: string }).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
    const callA = async () => ((await (await fetch(`${a.url}/fn/${name}/`)).json()) as { host: string }).host;
    const hostA = await callA();
    expect(await platformOfHost(hostA)).toBe(idA);

    // A second function whose install takes 8 s: B starts while A builds it.
    await fs.writeFile(path.join(codeDir, 'index.mjs'), CODE);
    await fs.writeFile(path.join(codeDir, 'package.json'), JSON.stringify({ name: 'slow-build', version: '1.0.0', private: true, type: 'module', scripts: { install: 'sleep 8' } }));
    const slow = await deployFunction(at, { name: `${name}-slow`, runtime: 'node' }, { file: 'code.tar.gz', content: await tarGzOf(codeDir) });
    expect(slow.status).toBe(202);
    const slowBuild = ((await slow.json()) as { buildId: string }).buildId;
    const buildView = async () => (await (await client(a).api(`/v1/builds/${slowBuild}`)).json()) as { status: string; error: string | null };
    while ((await buildView()).status === 'queued') await new Promise((r) => setTimeout(r, 100));

    const b = await startStratus(KEY, env(stateB));
    running.push(b);
    const meanwhile = await buildView();
    expect(meanwhile.status, `the build must still run when B has started (${meanwhile.error ?? 'or this test shows nothing'})`).toBe('building');
    // B's start-up (reconcile, build recovery) left A's instance and A's build alone.
    expect(await runningContainer(hostA)).toBe(true);
    expect(await callA()).toBe(hostA);
    const slowDone = await waitForBuild(at, slowBuild);
    expect(slowDone.status, slowDone.error ?? '').toBe('succeeded');

    // Both run the queue's jobs: batches until each has run some (bounded).
    const submitted: string[] = [];
    const ranOn = new Map<string, string>();
    const viaB = client(b);
    for (let batch = 0; batch < 5 && new Set(ranOn.values()).size < 2; batch++) {
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) ids.push(await viaB.submit(name, { n: `${batch}-${i}`, sleepMs: 300 }));
      submitted.push(...ids);
      for (const id of ids) {
        const v = await viaB.until(id, 'succeeded', 60_000);
        expect(v.status, JSON.stringify(v)).toBe('succeeded');
        ranOn.set(id, (await platformOfHost((JSON.parse(v.result!.body) as { host: string }).host))!);
      }
    }
    expect(new Set(ranOn.values())).toEqual(new Set([idA, idB]));

    // A is killed with SIGKILL while it runs jobs; B finishes every one of them.
    const late: string[] = [];
    for (let i = 0; i < 10; i++) late.push(await viaB.submit(name, { n: `late-${i}`, sleepMs: 2000 }));
    submitted.push(...late);
    const viaA = client(a);
    const busy = async () => ((await (await viaA.api(`/v1/functions/${name}/instances`)).json()) as { instances: { inFlight: number }[] }).instances.some((x) => x.inFlight > 0);
    const deadline = Date.now() + 30_000;
    while (!(await busy()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await busy()).toBe(true);
    await a.kill('SIGKILL');
    for (const id of late) {
      const v = await viaB.until(id, 'succeeded', 90_000);
      expect(v.status, `${id}: ${JSON.stringify(v)}\n${b.log().slice(-3000)}`).toBe('succeeded');
      ranOn.set(id, (await platformOfHost((JSON.parse(v.result!.body) as { host: string }).host))!);
    }
    // A died within the 2 s of its first late job, so it finished none: the ones it had started were
    // run again by B, and every late answer is B's.
    expect(late.map((id) => ranOn.get(id))).toEqual(late.map(() => idB));

    // Exactly one record per invocation, all succeeded.
    const records = await viaB.recordsUntil(name, '&trigger=async', submitted.length);
    expect(records.map((r) => r.id).sort()).toEqual([...submitted].sort());
    expect(records.filter((r) => r.outcome !== 'succeeded')).toEqual([]);
    await viaB.api(`/v1/functions/${name}`, { method: 'DELETE' });
    await viaB.api(`/v1/functions/${name}-slow`, { method: 'DELETE' });
  }, 600_000);
});

const client = (p: StratusProcess) => asyncClient(p.url, KEY);
