// Chooses the Store: Redis when it answers. When it does not, the in-memory store only if Redis is
// absent — not asked for (STRATUS_STORE=redis, STRATUS_REDIS_URL), never used by this state dir, and no
// redis-server installed — announced loudly because everything it holds is lost when Stratus stops.
// Otherwise start-up waits for Redis (service-wait.ts): an empty store in place of a Redis that is down
// for a moment would make every function URL a 404 until the next restart.

import { redactUrl, type Config } from '../../core/config.js';
import type { Logger } from '../../core/log.js';
import { createRedisClient } from '../../core/redis-client.js';
import { MemoryStore } from '../../core/store/memory.js';
import { RedisStore } from '../../core/store/redis.js';
import type { Store } from '../../core/store/store.js';
import { adoptLegacyKeys } from './legacy-keys.js';
import { findOnPath, markUsed, usedBefore, waitForService, type BootOptions } from './service-wait.js';

async function redisAnswers(url: string): Promise<boolean> {
  // No logger: a failed attempt is reported by the caller (service-wait.ts), not line by line.
  const client = createRedisClient(url, { name: 'stratus-boot-probe', use: 'once', connectTimeoutMs: 1500 });
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Why Redis is meant to be used here although it does not answer, or null when it is absent. */
async function whyRedisIsMeant(config: Config): Promise<string | null> {
  const cfg = config.store;
  if (cfg.kind === 'redis') return 'STRATUS_STORE=redis';
  if (cfg.redisUrlSet) return 'STRATUS_REDIS_URL is set';
  const marker = await usedBefore(config.stateDir, 'redis');
  if (marker) return `this state dir used Redis before (${marker})`;
  const binary = await findOnPath('redis-server', cfg.hostPath);
  if (binary) return `redis-server is installed (${binary})`;
  return null;
}

export async function openStore(config: Config, logger: Logger, opts: BootOptions = {}): Promise<Store> {
  const cfg = config.store;
  if (cfg.kind === 'memory') {
    logger.warn('STORE: in-memory (STRATUS_STORE=memory): functions and builds are lost when Stratus stops');
    return new MemoryStore();
  }
  const where = redactUrl(cfg.redisUrl);
  if (!(await redisAnswers(cfg.redisUrl))) {
    const meant = await whyRedisIsMeant(config);
    if (meant === null) {
      logger.warn(
        `*** FALLBACK: Redis is not reachable at ${where} and not installed here — using the IN-MEMORY store. ` +
          'Functions, versions and builds are LOST when Stratus stops. Run `bash scripts/services.sh` to start Redis. ***',
      );
      return new MemoryStore();
    }
    const instead = cfg.kind === 'auto' ? ', or set STRATUS_STORE=memory to run on an in-memory store that starts empty' : '';
    await waitForService({
      ...opts,
      what: `Redis at ${where}`,
      why: `Stratus does not fall back to the in-memory store because ${meant}. Start Redis (bash scripts/services.sh)${instead}.`,
      attempt: () => redisAnswers(cfg.redisUrl),
      maxWaitMs: config.serviceWaitMs,
      field: 'STRATUS_REDIS_URL',
      logger,
    });
  }
  await markUsed(config.stateDir, 'redis', where);
  logger.info('store: Redis', { url: where, prefix: cfg.redisPrefix });
  const store = new RedisStore(cfg.redisUrl, { prefix: cfg.redisPrefix, logger: logger.child({ component: 'redis-store' }) });
  try {
    await adoptLegacyKeys(store, config.stateDir, cfg.redisPrefix, logger);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
