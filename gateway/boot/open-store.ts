// Chooses the Store: Redis when reachable (or required), else the in-memory store, announced loudly
// because everything it holds is lost when Stratus stops.

import { Redis } from 'ioredis';
import type { Config } from '../../core/config.js';
import { StratusError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import { RedisStore } from '../../core/store/redis.js';
import type { Store } from '../../core/store/store.js';

async function connectRedis(url: string): Promise<Redis | null> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1500, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {}); // the failed first connect is reported below, not as an unhandled event
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch {
    client.disconnect();
    return null;
  }
}

export async function openStore(cfg: Config['store'], logger: Logger): Promise<Store> {
  if (cfg.kind === 'memory') {
    logger.warn('STORE: in-memory (STRATUS_STORE=memory): functions and builds are lost when Stratus stops');
    return new MemoryStore();
  }
  const probe = await connectRedis(cfg.redisUrl);
  if (probe) {
    probe.disconnect();
    logger.info('store: Redis', { url: redactUrl(cfg.redisUrl) });
    return new RedisStore(cfg.redisUrl);
  }
  if (cfg.kind === 'redis') {
    throw new StratusError('INVALID_CONFIG', `Redis is not reachable at ${redactUrl(cfg.redisUrl)} and STRATUS_STORE=redis; start it (bash scripts/services.sh) or set STRATUS_REDIS_URL`, { field: 'STRATUS_REDIS_URL' });
  }
  logger.warn(
    `*** FALLBACK: Redis is not reachable at ${redactUrl(cfg.redisUrl)} — using the IN-MEMORY store. ` +
      'Functions, versions and builds are LOST when Stratus stops. Run `bash scripts/services.sh` to start Redis. ***',
  );
  return new MemoryStore();
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//<credentials>@');
}
