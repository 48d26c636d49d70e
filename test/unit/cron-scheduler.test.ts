// The cron scheduler over real node-cron and a real store (MemoryStore; the Redis lease is covered by the
// trigger store contract and the two-process integration test): two schedulers sharing one store act as
// two replicas, and every tick fires once between them; overlap "skip" and "allow"; a failed submission
// is kept as a failed fire; a deleted trigger stops firing. Submissions are recorded, not run.

import { afterEach, describe, expect, it } from 'vitest';
import { StratusError } from '../../core/errors.js';
import { systemClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import type { FunctionRecord } from '../../core/types.js';
import type { SubmitOptions } from '../../control/invocations/async-invocations.js';
import { CRON_EVENT_TYPE, CronScheduler } from '../../control/triggers/cron-scheduler.js';
import { TriggerIndex } from '../../control/triggers/trigger-index.js';
import { until } from '../support/until.js';

const waitFor = (what: string, cond: () => boolean | Promise<boolean>, ms = 10_000) => until(what, async () => ((await cond()) ? true : undefined), ms);

const fn = (name: string): FunctionRecord => ({
  name, config: { name, runtime: 'node', memoryMb: 128, timeoutMs: 1000, env: {}, concurrency: 1, minInstances: 0, maxInstances: 1, idleTtlMs: 60_000, network: 'egress' },
  currentVersion: 1, latestVersion: 1, createdAt: 't0', updatedAt: 't0',
});

interface Submission { fn: string; data: unknown; opts: SubmitOptions; replica: number; id: string }

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

async function replica(store: MemoryStore, n: number, submissions: Submission[], opts: { status?: (id: string) => string | null; fail?: Error } = {}) {
  const index = new TriggerIndex(store, silentLogger);
  await index.start();
  const cron = new CronScheduler({
    index, store, clock: systemClock, logger: silentLogger,
    submit: async (f, data, o) => {
      if (opts.fail) throw opts.fail;
      const id = `inv-${submissions.length + 1}`;
      submissions.push({ fn: f, data, opts: o, replica: n, id });
      return { id, duplicate: false, links: { self: '', logs: '', function: '' } };
    },
    invocationStatus: async (id) => opts.status?.(id) ?? 'succeeded',
  });
  cron.start();
  open.push(index, cron);
  return { index, cron };
}

async function withTrigger(spec: Record<string, unknown>) {
  const store = new MemoryStore();
  open.push(store);
  await store.putFunction(fn('tick'));
  const id = `t-${Math.random().toString(16).slice(2)}`;
  await store.createTrigger({ id, function: 'tick', createdAt: new Date().toISOString(), type: 'cron', schedule: '* * * * * *', timezone: 'UTC', payload: { hello: 'cron' }, overlap: 'allow', ...spec } as never, 50);
  return { store, id };
}

describe('cron scheduler', () => {
  it('fires every tick exactly once between two replicas sharing one store, as a CloudEvent on the async path', async () => {
    const { store, id } = await withTrigger({});
    const submissions: Submission[] = [];
    await replica(store, 1, submissions);
    await replica(store, 2, submissions);
    await waitFor('submissions.length >= 4', () => submissions.length >= 4, 10_000);
    const ticks = submissions.map((s) => s.opts.time!);
    expect(new Set(ticks).size).toBe(ticks.length); // no tick twice
    for (const t of ticks) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/); // the scheduled second, not "now"
    expect(submissions[0]).toMatchObject({ fn: 'tick', data: { hello: 'cron' }, opts: { type: CRON_EVENT_TYPE, trigger: 'cron', source: `/functions/tick/triggers/${id}`, subject: '* * * * * *' } });
    const fires = await store.listTriggerFires(id);
    expect(fires.length).toBeGreaterThanOrEqual(4);
    expect(fires.every((f) => f.result === 'queued' && f.invocationId !== null)).toBe(true);
  });

  it('skips a tick while the last fire still runs (overlap "skip"), fires every tick with "allow"', async () => {
    const skip = await withTrigger({ overlap: 'skip' });
    const skipped: Submission[] = [];
    await replica(skip.store, 1, skipped, { status: () => 'running' });
    await waitFor('(await skip.store.listTriggerFires(skip.', async () => (await skip.store.listTriggerFires(skip.id)).length >= 3, 10_000);
    const fires = await skip.store.listTriggerFires(skip.id);
    expect(skipped).toHaveLength(1);
    expect(fires.filter((f) => f.result === 'skipped').length).toBe(fires.length - 1);
    expect(fires[0]!.reason).toMatch(/still queued or running/);

    const allow = await withTrigger({ overlap: 'allow' });
    const allowed: Submission[] = [];
    await replica(allow.store, 1, allowed, { status: () => 'running' });
    await waitFor('allowed.length >= 3', () => allowed.length >= 3, 10_000);
  });

  it('keeps a fire that could not be queued as failed, with the reason; a function not ready yet is a skip', async () => {
    const notReady = await withTrigger({});
    await replica(notReady.store, 1, [], { fail: new StratusError('FUNCTION_NOT_READY', 'function tick is still building') });
    await waitFor('a skipped fire', async () => (await notReady.store.listTriggerFires(notReady.id)).length >= 1);
    expect((await notReady.store.listTriggerFires(notReady.id))[0]).toMatchObject({ result: 'skipped', invocationId: null, reason: 'function tick is still building' });

    const { store, id } = await withTrigger({});
    await replica(store, 1, [], { fail: new Error('queue unreachable') });
    await waitFor('(await store.listTriggerFires(id)).lengt', async () => (await store.listTriggerFires(id)).length >= 1, 10_000);
    expect((await store.listTriggerFires(id))[0]).toMatchObject({ result: 'failed', invocationId: null, reason: 'queue unreachable' });
  });

  it('stops firing a deleted trigger, schedules a new one, and shows the next fires', async () => {
    const { store, id } = await withTrigger({});
    const submissions: Submission[] = [];
    const { cron } = await replica(store, 1, submissions);
    expect(cron.nextFires(id)).toHaveLength(3);
    await waitFor('submissions.length >= 1', () => submissions.length >= 1, 10_000);
    await store.deleteTrigger('tick', id);
    await waitFor('cron.nextFires(id) === undefined', () => cron.nextFires(id) === undefined, 5000);
    const count = submissions.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(submissions.length).toBe(count);
    await store.createTrigger({ id: 'later', function: 'tick', createdAt: 'now', type: 'cron', schedule: '* * * * * *', timezone: 'UTC', payload: null, overlap: 'allow' }, 50);
    await waitFor('submissions.some((s) => s.opts.source ==', () => submissions.some((s) => s.opts.source === '/functions/tick/triggers/later'), 10_000);
  });
});
