// The TriggerStore half of the Store seam (core/store/triggers.ts), one suite run against both stores:
// MemoryStore always, RedisStore on real Redis (skipped outside CI when Redis is not running, failing in CI).

import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../core/store/memory.js';
import { RedisStore } from '../../core/store/redis.js';
import type { Store } from '../../core/store/store.js';
import { TRIGGER_FIRES_KEPT, type InvokeKeyRecord, type TriggerFire } from '../../core/store/triggers.js';
import type { TriggerRecord } from '../../core/triggers.js';
import type { FunctionRecord } from '../../core/types.js';
import { REDIS_URL, missing } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';

const fn = (name: string): FunctionRecord => ({
  name, config: { name, runtime: 'node', memoryMb: 128, timeoutMs: 1000, env: {}, concurrency: 1, minInstances: 0, maxInstances: 1, idleTtlMs: 60_000, network: 'egress' },
  currentVersion: null, latestVersion: 1, createdAt: 't0', updatedAt: 't0',
});
const cronTrigger = (f: string, id: string, createdAt = '2030-01-01T00:00:00.000Z'): TriggerRecord => ({
  id, function: f, createdAt, type: 'cron', schedule: '* * * * *', timezone: 'UTC', payload: { n: 1 }, overlap: 'skip',
});
const httpTrigger = (f: string): TriggerRecord => ({ id: 'http', function: f, createdAt: '2030-01-01T00:00:00.000Z', type: 'http', auth: 'key' });
const fire = (n: number): TriggerFire => ({ at: new Date(Date.UTC(2030, 0, 1, 0, n)).toISOString(), firedAt: 't', invocationId: `inv-${n}`, result: 'queued' });
const key = (f: string, id: string, createdAt = 't1'): InvokeKeyRecord => ({ id, function: f, sha256: 'ab'.repeat(32), prefix: 'stk_abcd', name: null, createdAt });

function changes(store: Store): { names: string[]; stop: () => void } {
  const names: string[] = [];
  const stop = store.watchFunctions((n) => void (n && names.push(n)));
  return { names, stop };
}
const settle = () => new Promise((r) => setTimeout(r, 100));

function contract(makeStore: () => Promise<Store>, cleanup: () => Promise<void> = async () => {}) {
  let store: Store;
  beforeEach(async () => {
    store = await makeStore();
    await store.putFunction(fn('a'));
    await store.putFunction(fn('b'));
  });
  afterEach(async () => {
    await store.close();
    await cleanup();
  });

  it('creates triggers only on an existing function, refuses a taken id, lists per function and all', async () => {
    expect(await store.createTrigger(cronTrigger('a', 't2', '2030-01-02T00:00:00.000Z'), 10)).toBe('created');
    expect(await store.createTrigger(cronTrigger('a', 't1'), 10)).toBe('created');
    expect(await store.createTrigger(cronTrigger('a', 't9'), 2)).toBe('full');
    expect(await store.createTrigger(httpTrigger('b'), 10)).toBe('created');
    expect(await store.createTrigger(httpTrigger('b'), 10)).toBe('exists');
    expect(await store.createTrigger(cronTrigger('ghost', 't3'), 10)).toBe('no-function');
    expect((await store.listTriggers('a')).map((t) => t.id)).toEqual(['t1', 't2']);
    expect((await store.listTriggers()).map((t) => `${t.function}/${t.id}`)).toEqual(['a/t1', 'a/t2', 'b/http']);
    expect(await store.listTriggers('ghost')).toEqual([]);
    expect((await store.listTriggers('a'))[0]).toEqual(cronTrigger('a', 't1'));
  });

  it('replaces a function\'s triggers in one step, dropping the fires of those removed', async () => {
    await store.createTrigger(cronTrigger('a', 'old'), 10);
    await store.recordTriggerFire('old', fire(1));
    await store.createTrigger(cronTrigger('a', 'kept'), 10);
    await store.recordTriggerFire('kept', fire(2));
    expect(await store.replaceTriggers('a', [cronTrigger('a', 'kept'), httpTrigger('a')])).toBe(true);
    expect((await store.listTriggers('a')).map((t) => t.id).sort()).toEqual(['http', 'kept']);
    expect(await store.listTriggerFires('old')).toEqual([]);
    expect(await store.listTriggerFires('kept')).toHaveLength(1);
    expect(await store.replaceTriggers('ghost', [cronTrigger('ghost', 'x')])).toBe(false);
    expect(await store.listTriggers('ghost')).toEqual([]);
    expect(await store.replaceTriggers('a', [])).toBe(true);
    expect(await store.listTriggers('a')).toEqual([]);
  });

  it('sets one trigger in one step: replaces the one with its id (dropping its fires), adds within the limit, leaves the others', async () => {
    expect(await store.createTrigger(cronTrigger('a', 'cron-1'), 10)).toBe('created');
    await store.recordTriggerFire('cron-1', fire(1));
    expect(await store.putTrigger(httpTrigger('a'), 2)).toBe('created');
    await store.recordTriggerFire('http', fire(2));
    const open: TriggerRecord = { ...httpTrigger('a'), auth: 'public' } as TriggerRecord;
    expect(await store.putTrigger(open, 2)).toBe('replaced'); // at the limit, but replacing
    expect((await store.listTriggers('a')).map((t) => [t.id, t.type === 'http' ? t.auth : t.type])).toEqual([['cron-1', 'cron'], ['http', 'public']]);
    expect(await store.listTriggerFires('http')).toEqual([]);
    expect(await store.listTriggerFires('cron-1')).toHaveLength(1);
    expect(await store.putTrigger(cronTrigger('a', 'cron-2'), 2)).toBe('full');
    expect(await store.putTrigger(httpTrigger('nobody'), 10)).toBe('no-function');
  });

  it('keeps the newest fires of a trigger, newest first, and deletes them with the trigger', async () => {
    await store.createTrigger(cronTrigger('a', 't1'), 10);
    for (let n = 0; n < TRIGGER_FIRES_KEPT + 5; n++) await store.recordTriggerFire('t1', fire(n));
    const fires = await store.listTriggerFires('t1');
    expect(fires).toHaveLength(TRIGGER_FIRES_KEPT);
    expect(fires[0]).toEqual(fire(TRIGGER_FIRES_KEPT + 4));
    expect(await store.deleteTrigger('a', 't1')).toBe(true);
    expect(await store.deleteTrigger('a', 't1')).toBe(false);
    expect(await store.listTriggerFires('t1')).toEqual([]);
  });

  it('gives a lease to one caller until it expires', async () => {
    const k = `tick-${randomUUID()}`;
    const claims = await Promise.all([1, 2, 3, 4].map(() => store.claimLease(k, 300)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await store.claimLease(`${k}-other`, 300)).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect(await store.claimLease(k, 300)).toBe(true);
  });

  it('keeps invoke keys per existing function, and deletes them', async () => {
    expect(await store.putInvokeKey(key('a', 'k2', 't2'), 10)).toBe('created');
    expect(await store.putInvokeKey(key('a', 'k1', 't1'), 10)).toBe('created');
    expect(await store.putInvokeKey(key('a', 'k9', 't9'), 2)).toBe('full');
    expect(await store.putInvokeKey(key('ghost', 'k3'), 10)).toBe('no-function');
    expect((await store.listInvokeKeys('a')).map((k) => k.id)).toEqual(['k1', 'k2']);
    expect(await store.listInvokeKeys('ghost')).toEqual([]);
    expect(await store.deleteInvokeKey('a', 'k1')).toBe(true);
    expect(await store.deleteInvokeKey('a', 'k1')).toBe(false);
    expect((await store.listInvokeKeys('a')).map((k) => k.id)).toEqual(['k2']);
  });

  it('deletes triggers, fires and keys with their function, and nothing of others', async () => {
    await store.createTrigger(cronTrigger('a', 't1'), 10);
    await store.recordTriggerFire('t1', fire(1));
    await store.putInvokeKey(key('a', 'k1'), 10);
    await store.createTrigger(cronTrigger('b', 't2'), 10);
    await store.putInvokeKey(key('b', 'k2'), 10);
    await store.deleteFunction('a');
    expect(await store.listTriggers('a')).toEqual([]);
    expect(await store.listTriggerFires('t1')).toEqual([]);
    expect(await store.listInvokeKeys('a')).toEqual([]);
    // A re-created function starts with no triggers or keys.
    await store.putFunction(fn('a'));
    expect(await store.listTriggers('a')).toEqual([]);
    expect((await store.listTriggers()).map((t) => t.id)).toEqual(['t2']);
    expect(await store.listInvokeKeys('b')).toHaveLength(1);
  });

  it('announces every change of triggers and keys as a change of the function', async () => {
    const seen = changes(store);
    if (store instanceof RedisStore) await store.watching();
    await store.createTrigger(cronTrigger('a', 't1'), 10);
    await store.replaceTriggers('b', [cronTrigger('b', 't2')]);
    await store.deleteTrigger('a', 't1');
    await store.deleteTrigger('a', 'none'); // nothing changed: no notice
    await store.putInvokeKey(key('b', 'k1'), 10);
    await store.deleteInvokeKey('b', 'k1');
    await settle();
    expect(seen.names).toEqual(['a', 'b', 'a', 'b', 'b']);
    seen.stop();
  });

  it("resolves a change of triggers or keys only once this replica's watchers have taken its notice in", async () => {
    const taken: string[] = [];
    const stop = store.watchFunctions(async (n) => {
      await new Promise((r) => setTimeout(r, 20)); // the route cache re-reads the function's http settings
      if (n) taken.push(n);
    });
    if (store instanceof RedisStore) await store.watching();
    await store.createTrigger(cronTrigger('a', 't1'), 10);
    expect(taken).toEqual(['a']);
    await store.replaceTriggers('b', [cronTrigger('b', 't2')]);
    expect(taken).toEqual(['a', 'b']);
    await store.deleteTrigger('a', 't1');
    expect(taken).toEqual(['a', 'b', 'a']);
    await store.putInvokeKey(key('b', 'k1'), 10);
    expect(taken).toEqual(['a', 'b', 'a', 'b']);
    await store.deleteInvokeKey('b', 'k1');
    expect(taken).toEqual(['a', 'b', 'a', 'b', 'b']);
    stop();
  });
}

describe('trigger store contract: MemoryStore', () => {
  contract(async () => new MemoryStore());
});

describe.skipIf(await missing('redis'))('trigger store contract: RedisStore', () => {
  const prefix = `stratus-test-${randomUUID()}:`;
  contract(async () => new RedisStore(REDIS_URL, { prefix }), () => removeRedisKeys(REDIS_URL, prefix));
});
