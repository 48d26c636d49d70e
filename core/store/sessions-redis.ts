// Dashboard sessions in Redis (sessions.ts), on the store's own connection, so that every replica of the
// platform knows every session: sign in on one, the next page or action may land on another. Under the
// platform's prefix:
//   session:<sha256 of the id>  hash  csrf, created (ms), seen (ms, the last refresh), flash (JSON, when set);
//                               its TTL is the idle timeout from the last refresh, never past the max age
//   sessions                    zset  sha256 of the id -> last refresh (ms): the platform's sessions in order
//                               of use, for `max`; expires with the most recently used session
// A hash rather than one JSON value: the refresh and the flash each change one field, atomically, without
// a read-modify-write of the whole session. Every change is one Lua script (or MULTI), never read, await,
// write: two replicas serving one browser's two tabs at once cannot undo each other's change.
//
// A page costs one round trip: the read script writes (TTL, index) only when the last refresh is older than
// sessionRefreshMs. Times are this replica's clock (replicas of one platform share a host or NTP); the TTL
// is kept by Redis, the max age checked on every read as well.

import type { Redis } from 'ioredis';
import type { Clock } from '../lifecycle.js';
import { DEFAULT_SESSION_LIMITS, newCsrfToken, newSessionId, plausibleId, sessionKey, sessionRefreshMs, type Flash, type Session, type SessionLimits, type SessionStore } from './sessions.js';

// KEYS: the session, the index. ARGV: member, csrf, now, ttl, idleMs, max, session-key prefix.
// Drops index entries older than the idle timeout (their sessions have expired), then the least recently
// used sessions beyond `max`, with their keys.
const CREATE = `
redis.call('HSET', KEYS[1], 'csrf', ARGV[2], 'created', ARGV[3], 'seen', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (tonumber(ARGV[3]) - tonumber(ARGV[5])))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[6])
if over > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #gone, 2 do redis.call('DEL', ARGV[7] .. gone[i]) end
end
return 1`;

// KEYS: the session, the index. ARGV: member, now, refreshMs, idleMs, maxAgeMs.
// Returns false (unknown, or past its max age: then removed), or { csrf, created, flash JSON or '' }.
const READ = `
local s = redis.call('HMGET', KEYS[1], 'csrf', 'created', 'seen', 'flash')
if not s[1] then return false end
local now = tonumber(ARGV[2])
local created = tonumber(s[2])
local maxAge = tonumber(ARGV[5])
if now - created > maxAge then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
if now - tonumber(s[3]) >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'seen', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.min(tonumber(ARGV[4]), created + maxAge - now)))
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return { s[1], s[2], s[4] or '' }`;

// KEYS: the session. ARGV: flash JSON. Never creates a key: a session signed out or expired stays gone.
const SET_FLASH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'flash', ARGV[1])
return 1`;

// KEYS: the session. ARGV: flash JSON. Removes it only if it is still that one.
const TAKE_FLASH = `
if redis.call('HGET', KEYS[1], 'flash') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'flash')
return 1`;

/** One spelling of a flash, so the one a page read compares equal to the one kept. */
const flashJson = (f: Flash): string => JSON.stringify({ kind: f.kind, text: f.text });

export class RedisSessions implements SessionStore {
  readonly #sessionKey: (member: string) => string;
  readonly #index: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly clock: Clock,
    readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {
    this.#sessionKey = (member) => `${prefix}session:${member}`;
    this.#index = `${prefix}sessions`;
  }

  async create(): Promise<{ id: string; session: Session }> {
    const id = newSessionId();
    const member = sessionKey(id);
    const csrf = newCsrfToken();
    const now = this.clock.now();
    const ttl = Math.min(this.limits.idleMs, this.limits.maxAgeMs);
    await this.redis.eval(CREATE, 2, this.#sessionKey(member), this.#index, member, csrf, now, ttl, this.limits.idleMs, this.limits.max, this.#sessionKey(''));
    return { id, session: { csrf, createdAt: now, flash: null } };
  }

  async get(id: string | undefined): Promise<Session | null> {
    if (!plausibleId(id)) return null;
    const member = sessionKey(id);
    const { idleMs, maxAgeMs } = this.limits;
    const found = (await this.redis.eval(READ, 2, this.#sessionKey(member), this.#index, member, this.clock.now(), sessionRefreshMs(this.limits), idleMs, maxAgeMs)) as [string, string, string] | null;
    if (!found) return null;
    const [csrf, created, flash] = found;
    return { csrf, createdAt: Number(created), flash: flash ? parseFlash(flash) : null };
  }

  async setFlash(id: string, flash: Flash): Promise<boolean> {
    if (!plausibleId(id)) return false;
    return (await this.redis.eval(SET_FLASH, 1, this.#sessionKey(sessionKey(id)), flashJson(flash))) === 1;
  }

  async takeFlash(id: string, flash: Flash): Promise<boolean> {
    if (!plausibleId(id)) return false;
    return (await this.redis.eval(TAKE_FLASH, 1, this.#sessionKey(sessionKey(id)), flashJson(flash))) === 1;
  }

  async delete(id: string | undefined): Promise<void> {
    if (!plausibleId(id)) return;
    const member = sessionKey(id);
    const result = await this.redis.multi().del(this.#sessionKey(member)).zrem(this.#index, member).exec();
    const failed = result?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  /** Nothing of its own to close: the connection is the store's, closed with it. */
  close(): void {}
}

/** A kept flash that is not one (written by something else under our prefix) is no message at all. */
function parseFlash(json: string): Flash | null {
  try {
    const f = JSON.parse(json) as Partial<Flash>;
    return (f.kind === 'ok' || f.kind === 'error') && typeof f.text === 'string' ? { kind: f.kind, text: f.text } : null;
  } catch {
    return null;
  }
}
