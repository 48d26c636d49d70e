// Keys written by a Stratus from before per-platform prefixes all start with "stratus:", whatever the
// state dir. At start a platform moves, once, the functions among them that are its own to its prefix;
// the rest stay where they are, for the platform they belong to (docs/configuration.md, STRATUS_REDIS_PREFIX).
//
// Whose a function is: a built version's artifact dir lies inside the state dir of the platform that
// built it (<state>/artifacts/NAME/vN). A function with no such version (only your own images, or
// builds that all failed) cannot be told apart and is left, named in a warning with the way to keep
// serving it.

import type { Redis } from 'ioredis';
import type { VersionRecord } from '../types.js';

/** The prefix every Stratus used before STRATUS_REDIS_PREFIX existed. */
export const LEGACY_PREFIX = 'stratus:';

export interface LegacyAdoption {
  /** Functions moved to this platform's prefix. */
  adopted: string[];
  /** Functions left under the legacy prefix: another platform's, or not attributable. */
  left: string[];
  /** Functions left because this platform already has one of the same name. */
  clashing: string[];
}

/** Moves the legacy functions `owns` accepts, each with all its keys, in one transaction per function. */
export async function adoptLegacyFunctions(
  redis: Redis,
  from: string,
  to: string,
  owns: (versions: VersionRecord[]) => boolean,
): Promise<LegacyAdoption> {
  const result: LegacyAdoption = { adopted: [], left: [], clashing: [] };
  if (from === to) return result;
  for (const name of await redis.hkeys(`${from}functions`)) {
    const versions = (await redis.hvals(`${from}versions:${name}`)).map((j) => JSON.parse(j) as VersionRecord);
    if (!owns(versions)) result.left.push(name);
    else result[(await moveFunction(redis, from, to, name)) === 'clash' ? 'clashing' : 'adopted'].push(name);
  }
  return result;
}

async function moveFunction(redis: Redis, from: string, to: string, name: string): Promise<'moved' | 'clash' | 'gone'> {
  const buildsOf = `${from}builds-of:${name}`;
  // WATCH: an older Stratus still running on the legacy keys may write meanwhile; then read again.
  for (let attempt = 0; attempt < 10; attempt++) {
    await redis.watch(`${from}functions`, buildsOf, `${to}functions`);
    const record = await redis.hget(`${from}functions`, name);
    if (record === null) {
      await redis.unwatch();
      return 'gone';
    }
    if ((await redis.hexists(`${to}functions`, name)) === 1) {
      await redis.unwatch();
      return 'clash';
    }
    const ids = await redis.smembers(buildsOf);
    const counter = `version-counter:${name}`;
    const keys = [`versions:${name}`, counter, `builds-of:${name}`, `logs:${name}`, ...ids.flatMap((id) => [`build:${id}`, `build-log:${id}`])];
    // Watched too: a key that expires or changes before EXEC would make its RENAME fail half-way.
    await redis.watch(...keys.map((k) => `${from}${k}`), `${to}${counter}`);
    // RENAME of a missing key is an error inside MULTI: only the keys that exist are moved.
    const exists = await Promise.all(keys.map((k) => redis.exists(`${from}${k}`)));
    // A counter this platform already has for the name (a function it deleted) must not go backwards.
    const counters = (await redis.mget(`${from}${counter}`, `${to}${counter}`)).map(Number);
    const unfinished = ids.length === 0 ? [] : await redis.smismember(`${from}builds-unfinished`, ...ids);
    const tx = redis.multi().hset(`${to}functions`, name, record).hdel(`${from}functions`, name);
    for (const key of keys.filter((_k, i) => exists[i] === 1 && keys[i] !== counter)) tx.rename(`${from}${key}`, `${to}${key}`);
    tx.set(`${to}${counter}`, Math.max(counters[0] || 0, counters[1] || 0)).del(`${from}${counter}`);
    const moving = ids.filter((_id, i) => unfinished[i] === 1);
    if (moving.length > 0) tx.srem(`${from}builds-unfinished`, ...moving).sadd(`${to}builds-unfinished`, ...moving);
    const done = await tx.exec();
    if (done === null) continue;
    const failed = done.find(([err]) => err);
    if (failed) throw failed[0];
    return 'moved';
  }
  throw new Error(`could not move function ${name} from ${from}*: its keys kept changing`);
}
