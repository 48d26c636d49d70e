// Async invocations, CloudEvents and invocation records end to end on real Docker, Redis and the
// registry: a call answered 202 ends as a succeeded invocation with the function's answer; the handler
// (Node and Python) sees the documented CloudEvent shape; a function failing every time ends in the
// dead-letter list after maxAttempts and a replay after a fix succeeds; an Idempotency-Key deduplicates;
// sync and async calls leave records, listed with filters, and their log lines.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing, REDIS_URL } from '../support/services.js';
import { Redis } from 'ioredis';
import { platformIdFor } from '../../platform/start-platform.js';

async function removeRedisKeys(stateDir: string): Promise<void> {
  const admin = new Redis(REDIS_URL);
  const keys = await admin.keys(`${platformIdFor(stateDir)}:*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
}

const ECHO_NODE = `export default async (event, context) => {
  console.log('handling ' + context.requestId);
  if (process.env.MODE === 'fail') throw new Error('failing on purpose');
  return { event, sawCe: event.specversion === '1.0' };
};`;
const ECHO_PYTHON = `def handler(event, context):
    return {"event": event}
`;

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('async invocations (Docker, Redis, registry)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  const suffix = Date.now().toString(36);
  const names = { echo: `async-echo-${suffix}`, fail: `async-fail-${suffix}`, py: `async-py-${suffix}` };
  const auth = () => ({ authorization: `Bearer ${platform.apiKey}` });
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { ...auth(), ...(init.headers as Record<string, string>) } });

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-async-'));
    platform = await startPlatform(e2eConfig(stateDir), silentLogger);
    const deploy = async (config: Record<string, unknown>, file: string, content: string) => {
      const res = await deployFunction(platform, config, { file, content });
      expect(res.status).toBe(202);
      const build = await waitForBuild(platform, (await res.json()).buildId);
      expect(build.status, build.error ?? '').toBe('succeeded');
    };
    await Promise.all([
      deploy({ name: names.echo, runtime: 'node' }, 'index.mjs', ECHO_NODE),
      deploy({ name: names.fail, runtime: 'node', env: { MODE: 'fail' }, async: { maxAttempts: 2, backoffMs: 100 } }, 'index.mjs', ECHO_NODE),
      deploy({ name: names.py, runtime: 'python' }, 'main.py', ECHO_PYTHON),
    ]);
  }, 600_000);

  afterAll(async () => {
    if (platform) {
      for (const name of Object.values(names)) await api(`/v1/functions/${name}`, { method: 'DELETE' });
      await platform.stop();
    }
    // The queue keeps finished jobs for days: leave nothing of this run's platform in the shared Redis.
    await removeRedisKeys(stateDir);
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  const submit = async (name: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await api(`/v1/functions/${name}/invocations`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
    expect(res.status).toBe(202);
    return (await res.json()) as { id: string; duplicate: boolean; links: { self: string; logs: string } };
  };

  interface View { id: string; status: string; attempts: number; result: { statusCode: number; body: string } | null; error: { code: string } | null }
  const until = async (id: string, statuses: string[]): Promise<View> => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const res = await api(`/v1/invocations/${id}`);
      const view = (await res.json()) as View;
      if (statuses.includes(view.status) || Date.now() > deadline) return view;
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  it('answers 202 at once and ends succeeded with the answer of a handler that saw the CloudEvent', async () => {
    const { id, links } = await submit(names.echo, { n: 1 });
    expect(links.self).toBe(`/v1/invocations/${id}`);
    const view = await until(id, ['succeeded', 'dead']);
    expect(view).toMatchObject({ status: 'succeeded', attempts: 1, result: { statusCode: 200 } });
    const { event, sawCe } = JSON.parse(view.result!.body) as { event: Record<string, unknown>; sawCe: boolean };
    expect(sawCe).toBe(true);
    expect(event).toMatchObject({ id, type: 'dev.stratus.invocation.async', source: `/functions/${names.echo}`, specversion: '1.0', datacontenttype: 'application/json', data: { n: 1 } });
    expect(Number.isNaN(Date.parse(String(event.time)))).toBe(false);
    expect(event).not.toHaveProperty('method');

    // Its log lines are kept under the invocation id.
    const logsDeadline = Date.now() + 10_000;
    let lines: { message: string }[] = [];
    while (lines.length === 0 && Date.now() < logsDeadline) {
      lines = ((await (await api(links.logs)).json()) as { logs: { message: string }[] }).logs;
      if (lines.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(lines.map((l) => l.message)).toContain(`handling ${id}`);
  });

  it('takes x-stratus-invocation-type: async on the function URL; a plain call keeps the HTTP event', async () => {
    const res = await fetch(`${platform.url}/fn/${names.echo}/x?y=1`, { method: 'POST', body: '{"via":"url"}', headers: { 'content-type': 'application/json', 'x-stratus-invocation-type': 'async' } });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const view = await until(id, ['succeeded', 'dead']);
    expect(view.status).toBe('succeeded');
    expect(JSON.parse(view.result!.body).event.data).toEqual({ via: 'url' });

    const plain = await fetch(`${platform.url}/fn/${names.echo}/x?y=1`);
    expect(plain.status).toBe(200);
    expect((await plain.json()).event).toMatchObject({ method: 'GET', path: '/x', query: { y: '1' } });
  });

  it('gives a Python handler the same CloudEvent shape', async () => {
    const { id } = await submit(names.py, { from: 'py' });
    const view = await until(id, ['succeeded', 'dead']);
    expect(view.status).toBe('succeeded');
    expect(JSON.parse(view.result!.body).event).toMatchObject({ id, type: 'dev.stratus.invocation.async', source: `/functions/${names.py}`, specversion: '1.0', data: { from: 'py' } });
  });

  it('an Idempotency-Key returns the first invocation\'s id and queues nothing new', async () => {
    const key = `k-${suffix}`;
    const first = await submit(names.echo, { n: 'first' }, { 'idempotency-key': key });
    const again = await submit(names.echo, { n: 'again' }, { 'idempotency-key': key });
    expect(first.duplicate).toBe(false);
    expect(again).toMatchObject({ id: first.id, duplicate: true });
    const view = await until(first.id, ['succeeded', 'dead']);
    expect(JSON.parse(view.result?.body ?? 'null')?.event?.data, JSON.stringify(view)).toEqual({ n: 'first' });
    const other = await submit(names.echo, {}, { 'idempotency-key': `${key}-other` });
    expect(other.id).not.toBe(first.id);
  });

  it('a function failing every time ends in the dead letters after maxAttempts; a replay after the fix succeeds', async () => {
    const { id } = await submit(names.fail, { n: 'doomed' });
    const dead = await until(id, ['dead', 'succeeded']);
    expect(dead).toMatchObject({ status: 'dead', attempts: 2, error: { code: 'FUNCTION_ERROR' } });
    const letters = (await (await api(`/v1/functions/${names.fail}/dead-letters`)).json()) as { deadLetters: View[] };
    expect(letters.deadLetters.map((d) => d.id)).toContain(id);
    // Its record (one per id, the last attempt's) says so, and is found by the status filter.
    const failedDeadline = Date.now() + 10_000;
    let failed: InvocationRecord[] = [];
    while (!failed.some((r) => r.id === id) && Date.now() < failedDeadline) {
      failed = ((await (await api(`/v1/functions/${names.fail}/invocations?status=failed`)).json()) as { invocations: InvocationRecord[] }).invocations;
      if (!failed.some((r) => r.id === id)) await new Promise((r) => setTimeout(r, 200));
    }
    expect(failed.find((r) => r.id === id)).toMatchObject({ trigger: 'async', outcome: 'failed', statusCode: 500, attempt: 2 });
    expect((await (await api(`/v1/functions/${names.fail}/invocations?status=succeeded`)).json()).invocations.map((r: InvocationRecord) => r.id)).not.toContain(id);

    const patched = await api(`/v1/functions/${names.fail}`, { method: 'PATCH', body: JSON.stringify({ env: { MODE: 'ok' } }), headers: { 'content-type': 'application/json' } });
    expect(patched.status).toBe(200);
    const replay = await api(`/v1/functions/${names.fail}/dead-letters/${id}/replay`, { method: 'POST' });
    expect(replay.status).toBe(202);
    const done = await until(id, ['succeeded', 'dead']);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(JSON.parse(done.result!.body).event.data).toEqual({ n: 'doomed' });
    const after = (await (await api(`/v1/functions/${names.fail}/dead-letters`)).json()) as { deadLetters: View[] };
    expect(after.deadLetters.map((d) => d.id)).not.toContain(id);
    expect((await api(`/v1/functions/${names.fail}/dead-letters/${id}/replay`, { method: 'POST' })).status).toBe(404);
  });

  it('records sync and async invocations, listed with filters', async () => {
    const sync = await fetch(`${platform.url}/fn/${names.echo}`);
    expect(sync.status).toBe(200);
    const syncId = sync.headers.get('x-stratus-request-id')!;
    const { id: asyncId } = await submit(names.echo, { n: 'recorded' });
    await until(asyncId, ['succeeded', 'dead']);

    const list = async (query: string): Promise<InvocationRecord[]> => {
      const res = await api(`/v1/functions/${names.echo}/invocations${query}`);
      expect(res.status).toBe(200);
      return ((await res.json()) as { invocations: InvocationRecord[] }).invocations;
    };
    // Records reach the store in batches: poll (bounded) until both are there.
    const deadline = Date.now() + 10_000;
    let all = await list('');
    while (!(all.some((r) => r.id === syncId) && all.some((r) => r.id === asyncId)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      all = await list('');
    }
    const syncRecord = all.find((r) => r.id === syncId);
    expect(syncRecord).toMatchObject({ function: names.echo, version: 1, trigger: 'http', statusCode: 200, outcome: 'succeeded', memoryMb: 256 });
    expect(syncRecord!.billedMs).toBe(Math.max(1, Math.ceil(syncRecord!.durationMs)));
    expect(all.find((r) => r.id === asyncId)).toMatchObject({ trigger: 'async', statusCode: 200, outcome: 'succeeded', attempt: 1 });
    expect(all.map((r) => r.start)).toEqual([...all.map((r) => r.start)].sort().reverse());

    expect((await list('?trigger=http')).every((r) => r.trigger === 'http')).toBe(true);
    expect((await list('?trigger=async')).map((r) => r.id)).toContain(asyncId);
    expect((await list('?trigger=async')).map((r) => r.id)).not.toContain(syncId);
    expect(await list('?limit=1')).toHaveLength(1);
    expect((await list(`?before=${encodeURIComponent(all[0]!.start)}`)).map((r) => r.id)).not.toContain(all[0]!.id);

    const bad = await api(`/v1/functions/${names.echo}/invocations?status=maybe`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).field).toBe('query.status');
    const sole = await api(`/v1/invocations/${syncId}`);
    expect(await sole.json()).toMatchObject({ id: syncId, trigger: 'http', status: 'succeeded' });
    expect((await api('/v1/invocations/no-such-id')).status).toBe(404);
  });
});
