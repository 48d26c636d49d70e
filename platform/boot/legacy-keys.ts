// Functions an older Stratus wrote to Redis without a per-platform prefix: at start, the ones this state
// dir built are moved to this platform's prefix; the others are named, with how to serve them.

import path from 'node:path';
import type { Logger } from '../../core/log.js';
import { LEGACY_PREFIX } from '../../core/store/redis-legacy.js';
import type { RedisStore } from '../../core/store/redis.js';
import type { VersionRecord } from '../../core/types.js';

/** A version built by the platform whose state dir this is: its artifact dir lies inside it. */
export function builtHere(stateDir: string): (versions: VersionRecord[]) => boolean {
  const inside = path.resolve(stateDir) + path.sep;
  return (versions) => versions.some((v) => v.artifactDir !== null && path.resolve(v.artifactDir).startsWith(inside));
}

export async function adoptLegacyKeys(store: RedisStore, stateDir: string, prefix: string, logger: Logger, from = LEGACY_PREFIX): Promise<void> {
  if (prefix === from) return;
  const { adopted, left, clashing } = await store.adoptLegacyFunctions(builtHere(stateDir), from);
  if (adopted.length > 0) {
    logger.info(`store: moved ${adopted.length} function(s) written by an older Stratus from the Redis keys ${from}* to this platform's prefix ${prefix}`, { functions: adopted });
  }
  if (clashing.length > 0) {
    logger.warn(`store: function(s) built here under the old Redis keys ${from}* were left there: this platform already has a function of the same name`, { functions: clashing });
  }
  if (left.length > 0) {
    logger.info(
      `store: ${left.length} function(s) under the old Redis keys ${from}* were not built from this state dir and are left for the Stratus they belong to; ` +
        `to serve them from this one, start it with STRATUS_REDIS_PREFIX=${from}`,
      { functions: left.slice(0, 20) },
    );
  }
}
