// The dashboard's sessions, both implementations (core/store/sessions*.ts) through the store that makes
// them: one contract (found by their id only, a CSRF token each, max age however much they are used, the
// flash kept until one page takes it, sign-out), then what each does its own way — in memory, idle and
// least-recently-used eviction by the clock; in Redis (real, a prefix per test), only a hash of the id in
// any key, the idle timeout as a TTL refreshed at most once per sessionRefreshMs, never past the max age,
// `max` for the platform, and two stores on one prefix (two replicas) sharing every session.

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/lifecycle.js';
import { MemoryStore } from '../../core/store/memory.js';
import { RedisStore } from '../../core/store/redis.js';
import { sessionKey, sessionRefreshMs, type SessionLimits, type SessionStore } from '../../core/store/sessions.js';
import type { Store } from '../../core/store/store.js';
import { REDIS_URL, missing } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';
import { until } from '../support/until.js';

const LIMITS: SessionLimits = { idleMs: 60_000, maxAgeMs: 300_000, max: 50 };

interface Made {
  store: Store;
  clock: ManualClock;
  sessions: SessionStore;
}

function contract(makeStore: () => Promise<Store>, cleanup: () => Promise<void>) {
  const made: Made[] = [];
  const make = async (limits: SessionLimits = LIMITS): Promise<Made> => {
    const store = await makeStore();
    const clock = new ManualClock(1_000_000_000);
    const m = { store, clock, sessions: store.sessions(clock, limits) };
    made.push(m);
    return m;
  };
  afterEach(async () => {
    for (const m of made.splice(0)) {
      m.sessions.close();
      await m.store.close();
    }
    await cleanup();
  });

  it('finds a session by its id only, each with its own CSRF token; sign-out ends it', async () => {
    const { sessions } = await make();
    const a = await sessions.create();
    const b = await sessions.create();
    expect(a.id).not.toBe(b.id);
    expect(a.session.csrf).not.toBe(b.session.csrf);
    expect(await sessions.get(a.id)).toEqual({ csrf: a.session.csrf, createdAt: a.session.createdAt, flash: null });
    for (const wrong of [a.id.slice(1), `${a.id}x`, '', 'x'.repeat(101), undefined, sessionKey(a.id)]) expect(await sessions.get(wrong)).toBeNull();
    await sessions.delete(a.id);
    expect(await sessions.get(a.id)).toBeNull();
    expect(await sessions.get(b.id)).not.toBeNull();
    await sessions.delete(undefined); // nothing to sign out: no error
  });

  it('ends a session its max age after sign-in however much it is used', async () => {
    const { sessions, clock } = await make({ idleMs: 60_000, maxAgeMs: 100_000, max: 50 });
    const a = await sessions.create();
    for (let used = 0; used < 10; used++) {
      clock.advance(10_000);
      expect(await sessions.get(a.id), `after ${(used + 1) * 10} s`).not.toBeNull();
    }
    clock.advance(1);
    expect(await sessions.get(a.id)).toBeNull();
    expect(await sessions.setFlash(a.id, { kind: 'ok', text: 'too late' })).toBe(false);
  });

  it('keeps a flash until one page takes it; a newer flash is left for the next page; a signed-out session gets none', async () => {
    const { sessions } = await make();
    const a = await sessions.create();
    const done = { kind: 'ok' as const, text: 'v2 is live <b>' };
    expect(await sessions.setFlash(a.id, done)).toBe(true);
    const page = await sessions.get(a.id);
    expect(page?.flash).toEqual(done);
    expect((await sessions.get(a.id))?.flash).toEqual(done); // read is not take: a JSON fetch or a stream leaves it
    expect(await sessions.takeFlash(a.id, done)).toBe(true);
    expect(await sessions.takeFlash(a.id, done)).toBe(false); // a second page (tab) does not show it again
    expect((await sessions.get(a.id))?.flash).toBeNull();

    const older = { kind: 'ok' as const, text: 'first' };
    const newer = { kind: 'error' as const, text: 'second failed' };
    await sessions.setFlash(a.id, older);
    const read = await sessions.get(a.id);
    await sessions.setFlash(a.id, newer); // another action, meanwhile
    expect(await sessions.takeFlash(a.id, read!.flash!)).toBe(false);
    expect((await sessions.get(a.id))?.flash).toEqual(newer);

    await sessions.delete(a.id);
    expect(await sessions.setFlash(a.id, done)).toBe(false);
    expect(await sessions.get(a.id)).toBeNull(); // setting a flash made no session
  });
}

describe('dashboard sessions in memory', () => {
  contract(async () => new MemoryStore(), async () => {});

  it('expire when unused for idleMs, by the clock; the least recently used goes first past max', async () => {
    const clock = new ManualClock(1_000_000);
    const store = new MemoryStore();
    const sessions = store.sessions(clock, { idleMs: 1000, maxAgeMs: 5000, max: 2 });
    try {
      const a = await sessions.create();
      clock.advance(1000);
      expect(await sessions.get(a.id)).not.toBeNull();
      clock.advance(1001);
      expect(await sessions.get(a.id)).toBeNull();
      const c = await sessions.create();
      const d = await sessions.create();
      await sessions.get(c.id); // c used last: d is now the least recently used
      const e = await sessions.create();
      expect([await sessions.get(c.id), await sessions.get(d.id), await sessions.get(e.id)].map((s) => s !== null)).toEqual([true, false, true]);
    } finally {
      sessions.close();
      await store.close();
    }
  });
});

describe.skipIf(await missing('redis'))('dashboard sessions in Redis', () => {
  let prefix = '';
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(() => admin?.disconnect());
  const newPrefix = () => (prefix = `stratus-sessions-${randomUUID().slice(0, 8)}:`);

  contract(async () => new RedisStore(REDIS_URL, { prefix: prefix || newPrefix() }), async () => {
    if (prefix) await removeRedisKeys(REDIS_URL, prefix);
    prefix = '';
  });

  const opened: Array<{ store: Store; sessions: SessionStore }> = [];
  const open = (clock: ManualClock, limits: SessionLimits = LIMITS) => {
    const store = new RedisStore(REDIS_URL, { prefix });
    const sessions = store.sessions(clock, limits);
    opened.push({ store, sessions });
    return sessions;
  };
  afterEach(async () => {
    for (const o of opened.splice(0)) {
      o.sessions.close();
      await o.store.close();
    }
    if (prefix) await removeRedisKeys(REDIS_URL, prefix);
    prefix = '';
  });

  it('keeps only a hash of the id: no key or value holds the cookie', async () => {
    newPrefix();
    const sessions = open(new ManualClock(5_000_000));
    const { id } = await sessions.create();
    await sessions.setFlash(id, { kind: 'ok', text: 'done' });
    const keys = await admin.keys(`${prefix}*`);
    expect(keys.sort()).toEqual([`${prefix}session:${sessionKey(id)}`, `${prefix}sessions`].sort());
    const stored = JSON.stringify([keys, await admin.hgetall(`${prefix}session:${sessionKey(id)}`), await admin.zrange(`${prefix}sessions`, 0, -1)]);
    expect(stored).not.toContain(id);
  });

  it('has a TTL of the idle timeout, restarted by a read only when its last refresh is sessionRefreshMs old, never past the max age', async () => {
    newPrefix();
    const clock = new ManualClock(5_000_000);
    const limits = { idleMs: 600_000, maxAgeMs: 3_600_000, max: 50 };
    const sessions = open(clock, limits);
    const { id } = await sessions.create();
    const key = `${prefix}session:${sessionKey(id)}`;
    const ttl = () => admin.pttl(key);
    expect(await ttl()).toBeGreaterThan(0);
    expect(await ttl()).toBeLessThanOrEqual(limits.idleMs);

    await admin.pexpire(key, 50_000); // as if most of the idle timeout had passed
    clock.advance(sessionRefreshMs(limits) - 1);
    expect(await sessions.get(id)).not.toBeNull();
    expect(await ttl()).toBeLessThanOrEqual(50_000); // a recent refresh: the read wrote nothing
    clock.advance(1);
    expect(await sessions.get(id)).not.toBeNull();
    expect(await ttl()).toBeGreaterThan(50_000); // refreshed to the idle timeout again

    // Near its max age the TTL ends at the max age, not an idle timeout later.
    clock.advance(limits.maxAgeMs - sessionRefreshMs(limits) - 10_000);
    expect(await sessions.get(id)).not.toBeNull();
    expect(await ttl()).toBeLessThanOrEqual(10_000);
  });

  it('is gone when unused for the idle timeout (Redis expires it)', async () => {
    newPrefix();
    const sessions = open(new ManualClock(5_000_000), { idleMs: 300, maxAgeMs: 60_000, max: 50 });
    const { id } = await sessions.create();
    // Watched through the key, not through get(), which would use the session.
    await until('the idle session to expire', async () => ((await admin.exists(`${prefix}session:${sessionKey(id)}`)) === 0 ? true : undefined), 10_000, 50);
    expect(await sessions.get(id)).toBeNull();
  });

  it('keeps at most `max` sessions for the platform, the least recently used going first, whichever replica made them', async () => {
    newPrefix();
    const clock = new ManualClock(5_000_000);
    const limits = { idleMs: 600_000, maxAgeMs: 3_600_000, max: 2 };
    const one = open(clock, limits);
    const two = open(clock, limits);
    const c = await one.create();
    clock.advance(1000);
    const d = await two.create();
    clock.advance(sessionRefreshMs(limits));
    expect(await two.get(c.id)).not.toBeNull(); // c used last: d is now the least recently used
    clock.advance(1000);
    const e = await one.create();
    expect([await one.get(c.id), await one.get(d.id), await two.get(e.id)].map((s) => s !== null)).toEqual([true, false, true]);
    expect(await admin.exists(`${prefix}session:${sessionKey(d.id)}`)).toBe(0);
    expect(await admin.zcard(`${prefix}sessions`)).toBe(2);
  });

  it('is one session on every replica: signed in on one, its flash set on another, taken and signed out on a third', async () => {
    newPrefix();
    const clock = new ManualClock(5_000_000);
    const [a, b, c] = [open(clock), open(clock), open(clock)];
    const { id, session } = await a.create();
    expect((await b.get(id))?.csrf).toBe(session.csrf);
    await b.setFlash(id, { kind: 'ok', text: 'rolled back' });
    const seen = await c.get(id);
    expect(seen?.flash).toEqual({ kind: 'ok', text: 'rolled back' });
    expect(await c.takeFlash(id, seen!.flash!)).toBe(true);
    expect((await a.get(id))?.flash).toBeNull();
    await c.delete(id);
    expect(await a.get(id)).toBeNull();
    expect(await b.get(id)).toBeNull();
    expect(await admin.zscore(`${prefix}sessions`, sessionKey(id))).toBeNull();
  });
});
