// The one Redis client factory (core/redis-client.ts): each use gets the behaviour its callers rely on
// while Redis is away, every client is named for CLIENT LIST, and its errors never go unhandled.

import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import { createRedisClient, ERROR_LOG_EVERY_MS, rateLimitedErrorLog, type RedisUse } from '../../core/redis-client.js';
import { missing, REDIS_URL } from '../support/services.js';

// Nothing listens on port 1: the clients here that do not connect lazily never reach anything.
const NOWHERE = 'redis://127.0.0.1:1';
const noRedis = await missing('redis');
const clients: Redis[] = [];
const make = (use: RedisUse, url = NOWHERE) => {
  const c = createRedisClient(url, { name: `test-${use}`, use });
  clients.push(c);
  return c;
};
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

describe('createRedisClient', () => {
  it('gives BullMQ the maxRetriesPerRequest null it requires, and the store a bounded retry', () => {
    expect(make('bullmq').options.maxRetriesPerRequest).toBeNull();
    expect(make('commands').options.maxRetriesPerRequest).toBe(3);
  });

  it('reconnects with a growing delay capped at 2 s, except the one-shot probe, which never reconnects', () => {
    for (const use of ['commands', 'bullmq', 'health'] as const) {
      const retry = make(use).options.retryStrategy!;
      expect([retry(1), retry(10), retry(1000)]).toEqual([50, 500, 2000]);
    }
    expect(make('once').options.retryStrategy!(1)).toBeNull();
  });

  it('makes the probes lazy, and the kept one fail at once while disconnected', async () => {
    const health = make('health');
    expect(health.status).toBe('wait');
    expect(health.options.enableOfflineQueue).toBe(false);
    await expect(health.ping()).rejects.toThrow(/offline queue is disabled|Stream isn't writeable/);
    expect(make('once').status).toBe('wait');
  });

  it('an error event is never unhandled, with or without a logger', () => {
    expect(() => make('commands').emit('error', new Error('Command queue state error'))).not.toThrow();
    const lines: string[] = [];
    const logged = createRedisClient(NOWHERE, { name: 'test-logged', use: 'once', logger: createLogger({ level: 'debug', write: (l) => lines.push(l) }) });
    clients.push(logged);
    expect(() => logged.emit('error', new Error('boom'))).not.toThrow();
    expect(lines.join('\n')).toMatch(/WARN .*Redis connection error.*boom/);
  });

  it.skipIf(noRedis)('names its connection for CLIENT LIST', async () => {
    const c = createRedisClient(REDIS_URL, { name: 'stratus-test-named', use: 'commands' });
    clients.push(c);
    await c.ping();
    expect(await c.client('GETNAME')).toBe('stratus-test-named');
  });
});

describe('rateLimitedErrorLog', () => {
  it('logs the first error, then one line per period with the count of those it kept quiet', () => {
    const lines: string[] = [];
    let now = 0;
    const report = rateLimitedErrorLog(createLogger({ level: 'debug', write: (l) => lines.push(l) }), () => now);
    report(new Error('e1'));
    now = ERROR_LOG_EVERY_MS - 1;
    report(new Error('e2'));
    report(new Error('e3'));
    expect(lines).toHaveLength(1);
    now = ERROR_LOG_EVERY_MS;
    report(new Error('e4'));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/e4.*"suppressedSinceLast":2/);
  });
});
