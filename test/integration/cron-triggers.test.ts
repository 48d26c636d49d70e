// Cron triggers end to end, as `npm start` runs Stratus: two Stratus processes (their own state dirs and
// ports) share one Redis under one prefix; a function deployed with an every-second cron trigger in its
// config runs on schedule, once per tick whichever process holds the tick's lease — counted from the
// invocation records (each fire is its own async invocation) and from what the function received: the
// tick's time, the cron event type and the trigger's payload. Then one process is killed with SIGKILL and
// the other goes on firing alone; the trigger is deleted and nothing more fires. Real Docker, Redis and
// registry.

import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { asyncClient, removeRedisKeys, startStratus, type StratusProcess } from '../support/stratus-process.js';
import { missing, REDIS_URL } from '../support/services.js';
import { until } from '../support/until.js';

const KEY = 'cron-triggers-key-0123456789';
const TICKER = `export default async (event) => ({ type: event.type, time: event.time, subject: event.subject, data: event.data });`;

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('cron triggers across two Stratus processes (Docker, Redis, registry)', () => {
  const prefix = `stratus-cron-${randomUUID().slice(0, 8)}:`;
  const name = `ticker-${Date.now().toString(36)}`;
  const dirs: string[] = [];
  const procs: StratusProcess[] = [];
  let a: ReturnType<typeof asyncClient>;
  const envOf = (dir: string) => ({
    STRATUS_STATE_DIR: dir, STRATUS_REDIS_PREFIX: prefix, STRATUS_STORE: 'redis', STRATUS_BACKEND: 'docker',
    STRATUS_REDIS_URL: REDIS_URL, STRATUS_STEM_POOL_SIZE: '1', STRATUS_S3_PORT: 'off',
  });

  beforeAll(async () => {
    for (const n of [1, 2]) {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), `stratus-cron-${n}-`));
      dirs.push(dir);
      procs.push(await startStratus(KEY, envOf(dir)));
    }
    a = asyncClient(procs[0]!.url, KEY);
  }, 120_000);

  afterAll(async () => {
    // A process killed with SIGKILL left its containers (and their mounted socket dirs): started again on its
    // state dir while the function still exists, it adopts them, and stopped properly it removes them — what
    // an operator's restart does.
    if (procs[0]?.child.signalCode === 'SIGKILL') procs[0] = await startStratus(KEY, envOf(dirs[0]!));
    if (procs[0]) await asyncClient(procs[0].url, KEY).api(`/v1/functions/${name}`, { method: 'DELETE' }).catch(() => {});
    for (const p of procs) await p.kill('SIGTERM');
    await removeRedisKeys(REDIS_URL, prefix);
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });

  it('fires an every-second cron once per tick between the two processes, with the tick and payload', async () => {
    const form = new FormData();
    form.set('config', JSON.stringify({ name, runtime: 'node', triggers: [{ type: 'cron', schedule: '* * * * * *', payload: { job: 'tick' }, overlap: 'allow' }] }));
    form.set('code', new Blob([TICKER]), 'index.mjs');
    const deployed = await fetch(`${procs[0]!.url}/v1/functions`, { method: 'POST', body: form, headers: { authorization: `Bearer ${KEY}` } });
    expect(deployed.status, await deployed.clone().text()).toBe(202);
    const { buildId, triggers } = (await deployed.json()) as { buildId: string; triggers: Array<{ id: string; type: string }> };
    expect(triggers.map((t) => t.type)).toEqual(['cron']);
    const build = await until('the build', async () => {
      const b = (await (await a.api(`/v1/builds/${buildId}`)).json()) as { status: string; error: string | null };
      return b.status === 'succeeded' || b.status === 'failed' ? b : undefined;
    }, 300_000, 500);
    expect(build.status, build.error ?? '').toBe('succeeded');

    // Bad triggers are refused by the real platform with a problem naming the field, and add nothing.
    const refused = async (body: unknown, field: string, detail: RegExp) => {
      const res = await a.api(`/v1/functions/${name}/triggers`, { method: 'POST', body: JSON.stringify(body) });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = (await res.json()) as { code: string; field: string; detail: string };
      expect(problem).toMatchObject({ code: 'INVALID_TRIGGER', field });
      expect(problem.detail).toMatch(detail);
    };
    await refused({ type: 'cron', schedule: '60 * * * *' }, 'body.schedule', /not a valid cron expression/);
    await refused({ type: 'cron', schedule: '0 9 * * *', timezone: 'Europe/Atlantis' }, 'body.timezone', /IANA time zone/);
    await refused({ type: 'queue', name: 'jobs' }, 'body.type', /unknown trigger type "queue"/);
    await refused({ type: 'storage', bucket: 'uploads', filter: { suffix: '' } }, 'body.filter.suffix', /empty suffix/);
    expect(((await (await a.api(`/v1/functions/${name}/triggers`)).json()) as { triggers: unknown[] }).triggers).toHaveLength(1);

    // The second process knows the trigger too: it shows it, and its schedule (next fires) with it.
    const b = asyncClient(procs[1]!.url, KEY);
    const seenByB = (await (await b.api(`/v1/functions/${name}/triggers/${triggers[0]!.id}`)).json()) as { next?: string[] };
    expect(seenByB.next).toHaveLength(3);

    // Ten succeeded fires after the build: the ticks fired while it was building may have failed (no version yet).
    const records = await until('ten succeeded cron invocations', async () => {
      const rs = (await a.records(name, '&trigger=cron&status=succeeded'));
      return rs.length >= 10 ? rs : undefined;
    }, 60_000, 250);
    const all: InvocationRecord[] = await a.records(name, '&trigger=cron');
    const results = await Promise.all(records.map((r) => a.view(r.id)));
    const ticks = results.map((v) => (JSON.parse(v.result!.body) as { time: string }).time);
    // Exactly one invocation per tick: no tick twice, across both processes.
    expect(new Set(ticks).size).toBe(ticks.length);
    const fired = new Set(all.map((r) => r.id));
    expect(fired.size).toBe(all.length);
    for (const v of results) {
      expect((v as unknown as { trigger: string }).trigger).toBe('cron');
      expect(JSON.parse(v.result!.body)).toMatchObject({ type: 'dev.stratus.cron.tick', subject: '* * * * * *', data: { job: 'tick' } });
    }
    // On schedule: whole seconds, one apart at most a few seconds of ticks missing in between.
    const seconds = ticks.map((t) => Date.parse(t) / 1000).sort((x, y) => x - y);
    for (const s of seconds) expect(Number.isInteger(s)).toBe(true);
    expect(seconds.at(-1)! - seconds[0]!).toBeLessThan(seconds.length + 5);

    // The fires are listed on the trigger, each with its invocation.
    const shown = (await (await a.api(`/v1/functions/${name}/triggers/${triggers[0]!.id}`)).json()) as { fires: Array<{ result: string; invocationId: string | null; at: string }> };
    expect(shown.fires.length).toBeGreaterThanOrEqual(10);
    expect(new Set(shown.fires.map((f) => f.at)).size).toBe(shown.fires.length);

    // Process 1 is killed: process 2 goes on firing every tick on its own.
    await procs[0]!.kill('SIGKILL');
    const count = records.length;
    const later = await until('three more succeeded cron invocations, from process 2', async () => {
      const rs = await b.records(name, '&trigger=cron&status=succeeded');
      return rs.length >= count + 3 ? rs : undefined;
    }, 60_000, 250);
    const laterTicks = (await Promise.all(later.map((r) => b.view(r.id)))).filter((v) => v.result).map((v) => (JSON.parse(v.result!.body) as { time: string }).time);
    expect(new Set(laterTicks).size).toBe(laterTicks.length);

    // Deleted: no more fires.
    expect((await b.api(`/v1/functions/${name}/triggers/${triggers[0]!.id}`, { method: 'DELETE' })).status).toBe(204);
    await new Promise((r) => setTimeout(r, 1500)); // a tick already leased when the notice arrived may still be queued
    const before = (await b.records(name, '&trigger=cron')).length;
    await new Promise((r) => setTimeout(r, 3000));
    expect((await b.records(name, '&trigger=cron')).length).toBe(before);
  }, 420_000);
});
