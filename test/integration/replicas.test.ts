// Two Stratus processes with one platform id on one Redis are one platform (scheduler/shared/): they route
// to each other's instances, maxInstances holds across both, one of them leads (scales, drains, sweeps) and
// the other takes the lead within seconds when the leader is killed; a killed replica's instances stay and
// keep serving the other. Real Docker and Redis; each process has its own state dir, as on two machines.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { DOCKER_SOCKET, missing, REDIS_URL } from '../support/services.js';
import { removeLeftovers, removeRedisKeys, startStratus, type StratusProcess } from '../support/stratus-process.js';
import { until } from '../support/until.js';

const eventually = (check: () => Promise<boolean>, ms: number) => until(check.toString().slice(0, 120), async () => ((await check()) ? true : undefined), ms, 50);

const KEY = 'replicas-test-key-0123456789abc';
// Says which container ran it (Docker names a container's host after its id) and holds the call a while.
const CODE = "import os from 'node:os';\nexport default async (event) => { await new Promise((r) => setTimeout(r, Number(event.query.ms ?? 0))); return { host: os.hostname() }; };\n";

const docker = new Docker({ socketPath: DOCKER_SOCKET });
const running: StratusProcess[] = [];
const dirs: string[] = [];
let platform: string | undefined;
afterEach(async () => {
  for (const p of running.splice(0)) await p.kill('SIGTERM');
  // Both processes share one platform id (not their state dirs' own).
  await removeLeftovers(docker, dirs.splice(0), platform ? [platform] : []);
  if (platform) await removeRedisKeys(REDIS_URL, `${platform}:`);
  platform = undefined;
});

async function functionContainers(fn: string): Promise<string[]> {
  const all = await docker.listContainers({ filters: { label: [`dev.stratus.platform=${platform}`, `dev.stratus.function=${fn}`] } });
  return all.map((c) => c.Id);
}

async function leaderOf(redis: Redis): Promise<string | null> {
  return redis.get(`${platform}:platform:${platform}:leader`);
}

/** The replica name a process announced at start. */
function replicaOf(p: StratusProcess): string {
  const m = /replica ([0-9a-f]{8}) of platform/.exec(p.log());
  if (!m) throw new Error(`no replica name in the log:\n${p.log()}`);
  return m[1]!;
}

/** Calls `url` in `loops` closed loops until `stop` resolves; returns the status codes and hosts seen. */
async function load(urls: string[], stop: Promise<void>): Promise<{ statuses: number[]; hosts: Set<string>; problems: string[] }> {
  let done = false;
  void stop.then(() => (done = true));
  const statuses: number[] = [];
  const hosts = new Set<string>();
  const problems: string[] = [];
  await Promise.all(
    urls.map(async (url) => {
      while (!done) {
        const res = await fetch(url).catch(() => null);
        statuses.push(res?.status ?? 0);
        if (res?.ok) hosts.add(((await res.json()) as { host: string }).host);
        else problems.push(`${url}: ${res ? await res.text() : 'no answer'}`);
      }
    }),
  );
  return { statuses, hosts, problems };
}

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('replicas of one platform (Docker, Redis)', () => {
  it('share instances: one instance serves both under a load it can take, maxInstances holds across both, and the lead passes on when the leader dies', async () => {
    const run = randomBytes(4).toString('hex');
    platform = `stratus-replicas-${run}`;
    const redis = new Redis(REDIS_URL);
    try {
      const env = async () => {
        const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-replica-'));
        dirs.push(stateDir);
        return { STRATUS_STATE_DIR: stateDir, STRATUS_PLATFORM_ID: platform!, STRATUS_STORE: 'redis', STRATUS_BACKEND: 'docker', STRATUS_STEM_POOL_SIZE: '0', STRATUS_S3_PORT: 'off',
          // Short windows, so the idle function scales to zero within the test rather than after a minute of averaging.
          STRATUS_STABLE_WINDOW_MS: '4000', STRATUS_PANIC_WINDOW_MS: '1000' };
      };
      const a = await startStratus(KEY, await env());
      running.push(a);
      const b = await startStratus(KEY, await env());
      running.push(b);
      const [ra, rb] = [replicaOf(a), replicaOf(b)];
      await eventually(async () => [ra, rb].includes((await leaderOf(redis)) ?? ''), 10_000);

      // One function an instance of which takes 8 calls at once: 2 callers (one per replica) need one instance.
      const name = `shared-${run}`;
      const deployed = await deployFunction({ url: a.url, apiKey: KEY }, { name, runtime: 'node', concurrency: 8, maxInstances: 2, idleTtlMs: 4000 }, { file: 'index.mjs', content: CODE });
      expect(deployed.status).toBe(202);
      const build = await waitForBuild({ url: a.url, apiKey: KEY }, ((await deployed.json()) as { buildId: string }).buildId);
      expect(build.status, build.error ?? '').toBe('succeeded');

      let stop!: () => void;
      const stopped = new Promise<void>((r) => (stop = r));
      const steady = load([`${a.url}/fn/${name}/?ms=20`, `${b.url}/fn/${name}/?ms=20`], stopped);
      const counts: number[] = [];
      for (let i = 0; i < 12; i++) {
        await new Promise((r) => setTimeout(r, 500));
        counts.push((await functionContainers(name)).length);
      }
      stop();
      const seen = await steady;
      expect(seen.problems).toEqual([]);
      expect(seen.statuses.length).toBeGreaterThan(50);
      // What one replica alone runs for this load: one instance, not one per replica.
      console.log(`steady load through both replicas: ${seen.statuses.length} calls, instances sampled every 500 ms: ${counts.join(' ')}`);
      expect(Math.max(...counts), `instances over time: ${counts.join(' ')}`).toBe(1);
      expect(seen.hosts.size).toBe(1);

      // maxInstances 2 holds for the platform: 24 callers at 4 s each, 12 per replica, want 3+ instances.
      const slow = await Promise.all([
        ...Array.from({ length: 12 }, () => fetch(`${a.url}/fn/${name}/?ms=1500`).then((r) => r.status)),
        ...Array.from({ length: 12 }, () => fetch(`${b.url}/fn/${name}/?ms=1500`).then((r) => r.status)),
        (async () => {
          let most = 0;
          for (let i = 0; i < 20; i++) {
            most = Math.max(most, (await functionContainers(name)).length);
            await new Promise((r) => setTimeout(r, 100));
          }
          return most;
        })(),
      ]);
      const most = slow.pop()!;
      console.log(`burst of 24 slow calls, 12 per replica, maxInstances 2: at most ${most} instances; ${slow.filter((x) => x === 200).length} answered 200, the others ${[...new Set(slow.filter((x) => x !== 200))].join(', ') || 'none'}`);
      expect(most, 'instances at most, sampled during the burst').toBeLessThanOrEqual(2);
      expect(slow.filter((s) => s === 200).length).toBeGreaterThan(0);

      // The leader is killed: the other holds the lease within 5 s, and scales: the idle function goes to zero.
      const leader = (await leaderOf(redis)) === ra ? a : b;
      const other = leader === a ? b : a;
      const otherName = leader === a ? rb : ra;
      const killedAt = Date.now();
      await leader.kill('SIGKILL');
      running.splice(running.indexOf(leader), 1);
      await eventually(async () => (await leaderOf(redis)) === otherName, 8000);
      const handedOverMs = Date.now() - killedAt;
      console.log(`the leader killed with SIGKILL: the lead passed on after ${handedOverMs} ms`);
      expect(handedOverMs, `the lead passed on after ${handedOverMs} ms`).toBeLessThanOrEqual(5000);
      // The dead replica's instances serve the survivor.
      const before = await functionContainers(name);
      const res = await fetch(`${other.url}/fn/${name}/`);
      expect(res.status).toBe(200);
      const host = ((await res.json()) as { host: string }).host;
      expect(before.some((id) => id.startsWith(host)), `served by ${host}, one of ${before.join(', ')}`).toBe(true);
      // Idle past its TTL (4 s), the function scales to zero: only a leader does that.
      await eventually(async () => (await functionContainers(name)).length === 0, 30_000);
      expect(other.log()).toContain('this replica leads the platform now');
    } finally {
      redis.disconnect();
    }
  }, 400_000);
});
