// Every Redis connection Stratus opens is made here, so that how a connection behaves while Redis is away
// is decided in one place and chosen by what the connection is for:
//   commands  the store's: a command waits through a few reconnect attempts, then fails as its caller's error
//   bullmq    a BullMQ queue's or worker's: BullMQ requires maxRetriesPerRequest null (its blocking commands
//             wait out a reconnect instead of failing) and refuses a connection that has one
//   health    a probe kept open (the dashboard): a command fails at once while disconnected, reconnecting
//             goes on behind it, so a page reports "down" instead of waiting
//   once      a one-shot probe (start-up's "does Redis answer?"): one connection attempt, no reconnect
// Keys are prefixed by their users (`${prefix}functions`, BullMQ's `prefix` option), not by ioredis's
// keyPrefix: BullMQ refuses a keyPrefix, and ioredis would not prefix pub/sub channels or Lua ARGV keys.

import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './log.js';

export type RedisUse = 'commands' | 'bullmq' | 'health' | 'once';

export interface RedisClientOptions {
  /** Shown by CLIENT LIST (connectionName): which part of Stratus holds a connection. */
  name: string;
  use: RedisUse;
  /** Where connection errors are reported, rate-limited; without one they are dropped, never left unhandled. */
  logger?: Logger;
  /** The wait for a connection, in ms (ioredis's default: 10 s). */
  connectTimeoutMs?: number;
}

/** While Redis is down ioredis reports every reconnect attempt: one log line per this period is enough. */
export const ERROR_LOG_EVERY_MS = 10_000;

/** ioredis's own default, written out: reconnect after 50 ms, 100 ms, … up to 2 s between attempts, forever. */
const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 2000);

const BY_USE: Record<RedisUse, RedisOptions> = {
  commands: { maxRetriesPerRequest: 3, retryStrategy: reconnectDelay },
  bullmq: { maxRetriesPerRequest: null, retryStrategy: reconnectDelay },
  health: { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: reconnectDelay },
  once: { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null },
};

/** A client for `url` that behaves as `opts.use` says, with its errors reported (or dropped) but never unhandled. */
export function createRedisClient(url: string, opts: RedisClientOptions): Redis {
  const client = new Redis(url, {
    ...BY_USE[opts.use],
    connectionName: opts.name,
    ...(opts.connectTimeoutMs !== undefined ? { connectTimeout: opts.connectTimeoutMs } : {}),
  });
  reportRedisErrors(client, opts.logger);
  return client;
}

/**
 * Listens to `client`'s 'error' events. Without a listener, an error ioredis emits directly (e.g. a reply it
 * cannot match to a command) throws and ends the process, and each failed reconnect is printed unthrottled
 * to stderr. With one, ioredis keeps reconnecting and commands meanwhile fail on their own, as errors of the
 * calls that made them. The listener stays for the client's life: an error emitted while it winds down must
 * not be the one that finds none.
 */
export function reportRedisErrors(client: Redis, logger: Logger | undefined): void {
  client.on('error', logger ? rateLimitedErrorLog(logger) : () => {});
}

/** Logs the first connection error at once, then at most one line per ERROR_LOG_EVERY_MS with a count. */
export function rateLimitedErrorLog(logger: Logger, now: () => number = Date.now): (err: Error) => void {
  let lastAt = -Infinity;
  let suppressed = 0;
  return (err) => {
    if (now() - lastAt < ERROR_LOG_EVERY_MS) {
      suppressed++;
      return;
    }
    lastAt = now();
    logger.warn('Redis connection error; reconnecting', { error: err.message, ...(suppressed > 0 ? { suppressedSinceLast: suppressed } : {}) });
    suppressed = 0;
  };
}

/** BullMQ's prefix under the platform's: BullMQ joins it and the queue name with ":", e.g. "<prefix>bull:async:…". */
export const bullPrefix = (platformPrefix: string): string => `${platformPrefix}bull`;
