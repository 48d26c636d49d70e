// Nothing lost: Stratus (gateway/main.ts in a child process, on real Docker and Redis) is killed with
// SIGKILL while an async invocation runs; started again on the same state dir (so the same Redis prefix
// and queue), BullMQ's stalled-job recovery hands the job to the new worker and it succeeds, while an
// invocation that had already succeeded before the kill is neither run nor recorded again.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing, REDIS_URL } from '../support/services.js';
import { Redis } from 'ioredis';
import { platformIdFor } from '../../gateway/platform.js';

async function removeRedisKeys(stateDir: string): Promise<void> {
  const admin = new Redis(REDIS_URL);
  const keys = await admin.keys(`${platformIdFor(stateDir)}:*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
}

const KEY = 'async-recovery-key-0123456789';

interface Started {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

async function startMain(env: Record<string, string>): Promise<Started> {
  let log = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '', STRATUS_PORT: '0', STRATUS_API_KEY: KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c) => (log += c));
  child.stderr!.on('data', (c) => (log += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const m = /Stratus is listening on (http:\/\/\S+)/.exec(log);
    if (m) return { child, url: m[1]!, exited };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`stratus did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const running: Started[] = [];
let stateDir: string | undefined;
afterEach(async () => {
  for (const r of running.splice(0)) {
    if (r.child.exitCode === null) {
      r.child.kill('SIGTERM');
      await r.exited;
    }
  }
  if (stateDir) {
    await removeRedisKeys(stateDir);
    await fs.rm(stateDir, { recursive: true, force: true });
  }
});

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('async invocations across a kill -9 (Docker, Redis)', () => {
  it('a job running when its platform is killed is done after a restart; a succeeded one is not run again', async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-async-kill-'));
    // A short lock so that the dead worker's job is taken over within seconds rather than the default 30 s.
    const env = { STRATUS_STATE_DIR: stateDir, STRATUS_STORE: 'redis', STRATUS_BACKEND: 'docker', STRATUS_ASYNC_LOCK_MS: '2000', STRATUS_STEM_POOL_SIZE: '0' };
    let platform = await startMain(env);
    running.push(platform);
    const auth = { authorization: `Bearer ${KEY}` };
    const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { ...auth, 'content-type': 'application/json' } });
    const name = `async-kill-${Date.now().toString(36)}`;
    const code = 'export default async (event) => { await new Promise((r) => setTimeout(r, event.data.sleepMs)); return { done: event.data.n }; };';
    const deployed = await deployFunction({ url: platform.url, apiKey: KEY }, { name, runtime: 'node', timeoutMs: 60_000 }, { file: 'index.mjs', content: code });
    expect(deployed.status).toBe(202);
    const build = await waitForBuild({ url: platform.url, apiKey: KEY }, (await deployed.json()).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');

    const submit = async (data: unknown): Promise<string> => {
      const res = await api(`/v1/functions/${name}/invocations`, { method: 'POST', body: JSON.stringify(data) });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };
    const view = async (id: string) => (await (await api(`/v1/invocations/${id}`)).json()) as { status: string; attempts: number; result: { body: string } | null; timings: { finishedAt: string | null } };
    const until = async (id: string, status: string, ms = 60_000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const v = await view(id);
        if (v.status === status || Date.now() > deadline) return v;
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    const quick = await submit({ n: 'quick', sleepMs: 0 });
    const before = await until(quick, 'succeeded');
    expect(before.status).toBe('succeeded');
    const slow = await submit({ n: 'slow', sleepMs: 4000 });
    expect((await until(slow, 'running')).status).toBe('running');

    platform.child.kill('SIGKILL');
    await platform.exited;
    platform = await startMain(env);
    running.push(platform);

    const after = await until(slow, 'succeeded', 90_000);
    expect(after.status).toBe('succeeded');
    expect(JSON.parse(after.result!.body)).toEqual({ done: 'slow' });
    // The quick one was finished before the kill: same result, same finish time, still one attempt.
    expect(await view(quick)).toEqual(before);

    // One record per invocation, and the quick one's is the one written before the kill.
    const deadline = Date.now() + 10_000;
    let records: InvocationRecord[] = [];
    while (!records.some((r) => r.id === slow && r.outcome === 'succeeded') && Date.now() < deadline) {
      records = ((await (await api(`/v1/functions/${name}/invocations?trigger=async`)).json()) as { invocations: InvocationRecord[] }).invocations;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(records.map((r) => r.id).sort()).toEqual([quick, slow].sort());
    expect(records.find((r) => r.id === slow)).toMatchObject({ outcome: 'succeeded', statusCode: 200 });
    await api(`/v1/functions/${name}`, { method: 'DELETE' });
  }, 300_000);
});
