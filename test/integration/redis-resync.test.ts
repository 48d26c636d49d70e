// Redis pub/sub does not replay what was published while a subscriber was disconnected. After the
// watch connection comes back, the store tells watchers to re-read everything (onChange(null)).

import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { RedisStore } from '../../core/store/redis.js';
import { missing, REDIS_URL } from '../support/services.js';

describe.skipIf(await missing('redis'))('RedisStore watch after a reconnect', () => {
  it('sends null once the subscription is back, so caches resync', async () => {
    const prefix = `stratus-test-resync-${Date.now().toString(36)}:`;
    const store = new RedisStore(REDIS_URL, { prefix });
    const admin = new Redis(REDIS_URL);
    const seen: Array<string | null> = [];
    try {
      store.watchFunctions((name) => seen.push(name));
      await store.watching();
      // Drop every pub/sub connection, as a Redis restart or a network blip would.
      await admin.client('KILL', 'TYPE', 'pubsub');
      await vi.waitFor(() => expect(seen).toContain(null), { timeout: 10_000, interval: 50 });
    } finally {
      await store.close();
      admin.disconnect();
    }
  });

  it('does not hold a write waiting for its notice while the subscription is down', async () => {
    const prefix = `stratus-test-resync-${Date.now().toString(36)}-w:`;
    const store = new RedisStore(REDIS_URL, { prefix });
    const admin = new Redis(REDIS_URL);
    const fn = { name: 'hello', config: { name: 'hello', runtime: 'node' as const, memoryMb: 128, timeoutMs: 1000, env: {}, concurrency: 1, minInstances: 0, maxInstances: 1, idleTtlMs: 60_000, network: 'egress' as const }, currentVersion: null, latestVersion: 1, createdAt: 't0', updatedAt: 't0' };
    try {
      store.watchFunctions(() => {});
      await store.watching();
      // The write's sync token goes out while the watch connection is dropped: it never comes back.
      await Promise.all([admin.client('KILL', 'TYPE', 'pubsub'), store.putFunction(fn)]);
      await store.putFunction({ ...fn, latestVersion: 2 });
      expect((await store.getFunction('hello'))?.latestVersion).toBe(2);
    } finally {
      await admin.del(`${prefix}functions`);
      await store.close();
      admin.disconnect();
    }
  }, 10_000);
});
