// The ArtifactStore on Redis: each key one binary string value under `${prefix}artifacts:`, its TTL Redis's own.
// Chosen for uploads waiting for a build (builder/build-service-bull.ts) because every replica already
// reaches this Redis and BullMQ's queue lives there: one service, one round trip per put or get, no new
// credentials. The cost is memory: an upload stays in Redis until its build ends (at most
// STRATUS_MAX_UPLOAD_MB each, 50 MB by default; Redis itself refuses values past 512 MB), and a version's
// kept source stays until its function is deleted. A registry blob or the S3 storage would cost no memory
// but a second service on the build path and, for S3, a process-local store (services/storage is per replica).

import type { Redis } from 'ioredis';
import type { ArtifactStore } from '../ports/artifact-store.js';
import { Closeable } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { createRedisClient } from '../redis-client.js';

export class RedisArtifactStore extends Closeable implements ArtifactStore {
  readonly #redis: Redis;

  constructor(redisUrl: string, private readonly prefix: string, logger?: Logger) {
    super();
    this.#redis = createRedisClient(redisUrl, { name: 'stratus-artifacts', use: 'commands', logger });
  }

  #key(key: string): string {
    return `${this.prefix}artifacts:${key}`;
  }

  async put(key: string, body: Buffer, opts: { ttlMs?: number } = {}): Promise<void> {
    // One SET: the value and its expiry together, replacing whatever was there (and its TTL).
    if (opts.ttlMs !== undefined) await this.#redis.set(this.#key(key), body, 'PX', Math.max(1, Math.ceil(opts.ttlMs)));
    else await this.#redis.set(this.#key(key), body);
  }

  get(key: string): Promise<Buffer | null> {
    return this.#redis.getBuffer(this.#key(key));
  }

  async delete(key: string): Promise<void> {
    await this.#redis.del(this.#key(key));
  }

  protected async doClose(): Promise<void> {
    this.#redis.disconnect(); // no QUIT: with Redis away it would wait for a reconnect (core/bull-close.ts)
  }
}
