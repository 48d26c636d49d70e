// The store's Redis client reports connection errors through the platform's logger (rate-limited) and
// keeps reconnecting: a Redis that goes away under a running Stratus does not end the process, and the
// store works again once Redis is back.

import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../core/log.js';
import { RedisStore } from '../../core/store/redis.js';
import { freePort, RedisServer, redisServerMissing } from '../support/redis-server.js';

function recordingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: 'debug', write: (l) => lines.push(l) }) };
}

let server: RedisServer | undefined;
let store: RedisStore | undefined;
afterEach(async () => {
  await store?.close();
  await server?.stop();
  store = undefined;
  server = undefined;
});

describe.skipIf(await redisServerMissing())('the Redis store when Redis fails', () => {
  it('an error event on its client is logged, not thrown (an unhandled one would end the process)', async () => {
    server = new RedisServer(await freePort());
    await server.start();
    const client = new Redis(server.url, { maxRetriesPerRequest: 3 });
    const { lines, logger } = recordingLogger();
    store = new RedisStore(client, { prefix: `errors-${Date.now()}:`, logger });
    // ioredis emits 'error' itself in some paths (a reply it cannot match to a command): the same event.
    expect(() => client.emit('error', new Error('Command queue state error'))).not.toThrow();
    expect(lines.join('\n')).toMatch(/WARN .*Redis connection error.*Command queue state error/);
  });

  it('Redis going away is logged a bounded number of times, and the store works again when it is back', async () => {
    server = new RedisServer(await freePort());
    await server.start();
    const { lines, logger } = recordingLogger();
    const stderr = vi.spyOn(console, 'error');
    store = new RedisStore(server.url, { prefix: `errors-${Date.now()}:`, logger });
    expect(await store.listFunctions()).toEqual([]);

    await server.stop();
    // ioredis retries with a growing delay (up to 2 s); each failed attempt is an 'error' event.
    await vi.waitFor(() => expect(lines.filter((l) => /Redis connection error/.test(l)).length).toBeGreaterThanOrEqual(1), { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 3000));
    const reported = lines.filter((l) => /Redis connection error/.test(l)).length;
    expect(reported).toBeLessThanOrEqual(2); // one line per 10 s, not one per reconnect attempt
    expect(stderr.mock.calls.filter((c) => String(c[0]).includes('[ioredis] Unhandled error event'))).toEqual([]);
    stderr.mockRestore();

    await server.start();
    await vi.waitFor(async () => expect(await store!.listFunctions()).toEqual([]), { timeout: 15_000, interval: 200 });
  });
});
