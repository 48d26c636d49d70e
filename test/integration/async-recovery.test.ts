// Nothing lost: Stratus (platform/main.ts in a child process, on real Docker and Redis) is killed with
// SIGKILL while an async invocation runs; started again on the same state dir (so the same Redis prefix
// and queue), BullMQ's stalled-job recovery hands the job to the new worker and it succeeds, while an
// invocation that had already succeeded before the kill is neither run nor recorded again.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing, REDIS_URL } from '../support/services.js';
import { asyncClient, removeRedisKeys, startStratus, type StratusProcess } from '../support/stratus-process.js';
import { redisPrefixFor } from '../../core/platform-id.js';

const KEY = 'async-recovery-key-0123456789';
const startMain = (env: Record<string, string>) => startStratus(KEY, env);

const running: StratusProcess[] = [];
let stateDir: string | undefined;
afterEach(async () => {
  for (const r of running.splice(0)) await r.kill('SIGTERM');
  if (stateDir) {
    await removeRedisKeys(REDIS_URL, redisPrefixFor(stateDir));
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
    let client = asyncClient(platform.url, KEY);
    const name = `async-kill-${Date.now().toString(36)}`;
    const code = 'export default async (event) => { await new Promise((r) => setTimeout(r, event.data.sleepMs)); return { done: event.data.n }; };';
    const deployed = await deployFunction({ url: platform.url, apiKey: KEY }, { name, runtime: 'node', timeoutMs: 60_000 }, { file: 'index.mjs', content: code });
    expect(deployed.status).toBe(202);
    const build = await waitForBuild({ url: platform.url, apiKey: KEY }, (await deployed.json()).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');

    const quick = await client.submit(name, { n: 'quick', sleepMs: 0 });
    const before = await client.until(quick, 'succeeded');
    expect(before.status).toBe('succeeded');
    const slow = await client.submit(name, { n: 'slow', sleepMs: 4000 });
    expect((await client.until(slow, 'running')).status).toBe('running');

    await platform.kill('SIGKILL');
    platform = await startMain(env);
    running.push(platform);
    client = asyncClient(platform.url, KEY);

    const after = await client.until(slow, 'succeeded', 90_000);
    expect(after.status).toBe('succeeded');
    expect(JSON.parse(after.result!.body)).toEqual({ done: 'slow' });
    // The quick one was finished before the kill: same result, same finish time, still one attempt.
    expect(await client.view(quick)).toEqual(before);

    // One record per invocation, and the quick one's is the one written before the kill.
    const deadline = Date.now() + 10_000;
    let records: InvocationRecord[] = [];
    while (!records.some((r) => r.id === slow && r.outcome === 'succeeded') && Date.now() < deadline) {
      records = await client.records(name, '&trigger=async');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(records.map((r) => r.id).sort()).toEqual([quick, slow].sort());
    expect(records.find((r) => r.id === slow)).toMatchObject({ outcome: 'succeeded', statusCode: 200 });
    await client.api(`/v1/functions/${name}`, { method: 'DELETE' });
  }, 300_000);
});
