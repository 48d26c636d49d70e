// The Redis store's write of a batch of invocation records: the records, their per-function index, the
// index's retention and the metered usage (usage.ts), in one Lua script — one command, one round trip,
// applied whole or not at all, atomic against every other replica's writes.
//
// Why one script and not a MULTI of commands per record: the writer (control/invocations/
// invocation-records.ts) sends a batch every 250 ms from the gateway's event loop, on the cores that
// serve the calls. As a MULTI, each record cost a SET and a ZADD (two ioredis commands, each a promise and
// a queued reply) plus eight arguments and ~8 Redis calls of usage bookkeeping (marks, HINCRBYs, expiries,
// the functions' zset) — 25–31 µs of gateway CPU and 11–17 µs of Redis CPU per record, ~20 % of the warm
// path's throughput (docs/benchmarks.md). Here the records are grouped by function and UTC hour in Node;
// per record Redis does a SET, a SADD of its billing mark and its share of one ZADD; the usage counters,
// expiries and index trims happen once per group.
//
// Keys (redis-keys.ts, usage-redis.ts), all passed in KEYS: usage-fns; per group invs-of:<fn>,
// billed:<hour>, usage:<fn>:<day>; per record inv:<id>.

import type { Redis } from 'ioredis';
import type { InvocationRecord, InvocationRetention } from './invocations.js';
import type { StoreKeys } from './redis-keys.js';
import { DAY_MS, DEFAULT_USAGE_MAX_AGE_MS, HOUR_MS, hourOfDay, meter, type Metered } from './usage.js';
import type { UsageKeys } from './usage-redis.js';

/**
 * At most this many records per group: a group's ZADD unpacks two arguments per record, and Lua's unpack
 * is bounded (LUAI_MAXCSTACK, 8000 values).
 */
export const GROUP_MAX_RECORDS = 500;

// ARGV[1..6]: the index's age cut (score), the index's count, the records' age (ms), usage-fns's trim
// score and time to live, the number of groups. Then per group 6 values: function, hour (ms), hour of day
// "HH", expiry of its marks, expiry of its usage (ms since the epoch), its record count; and per record of
// the group 6 values: id, start (ms, the index's score), JSON, billing mark, MB·ms, failed (0/1).
// A group's MB·ms are summed in Lua, a double: exact because groups() keeps every group's total at most
// 2^53 - 1, and formatted with %.0f so HINCRBY gets an integer (tostring would give 1e+14). The numbers
// Redis adds up itself (HINCRBY) are 64-bit integers, so the usage stays exact past 2^53.
const WRITE_BATCH = `
local indexCut, keep, recordTtl, fnsCut, fnsTtl, groups = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local a, k, rk = 7, 2, 2 + 3 * groups
local billed = 0
for g = 1, groups do
  local index, marks, usage = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local fn, hour, hh, marksAt, usageAt, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], tonumber(ARGV[a + 5])
  k, a = k + 3, a + 6
  local members = {}
  local requests, failed, mbMs = 0, 0, 0
  for i = 1, n do
    local id, score, json, mark, mb, isFailed = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
    a = a + 6
    redis.call('SET', KEYS[rk], json, 'PX', recordTtl)
    rk = rk + 1
    members[2 * i - 1], members[2 * i] = score, id
    -- The mark is there already: this record was stored and billed before (a retried batch).
    if redis.call('SADD', marks, mark) == 1 then
      requests, mbMs = requests + 1, mbMs + tonumber(mb)
      if isFailed == '1' then failed = failed + 1 end
    end
  end
  redis.call('ZADD', index, unpack(members))
  -- The ids' own keys expire by age; the index drops the same ones, and keeps the newest by count.
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. indexCut)
  redis.call('ZREMRANGEBYRANK', index, 0, -keep - 1)
  redis.call('PEXPIRE', index, recordTtl)
  if requests > 0 then
    redis.call('PEXPIREAT', marks, marksAt)
    redis.call('HINCRBY', usage, 'r:' .. hh, requests)
    redis.call('HINCRBY', usage, 'm:' .. hh, string.format('%.0f', mbMs))
    if failed > 0 then redis.call('HINCRBY', usage, 'f:' .. hh, failed) end
    redis.call('PEXPIREAT', usage, usageAt)
    local last = redis.call('ZSCORE', KEYS[1], fn)
    if not last or tonumber(last) < tonumber(hour) then redis.call('ZADD', KEYS[1], hour, fn) end
    billed = billed + requests
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. fnsCut)
redis.call('PEXPIRE', KEYS[1], fnsTtl)
return billed`;

export type WriteBatch = (numKeys: number, ...keysAndArgs: Array<string | number>) => Promise<number>;
const COMMAND = 'stratusWriteInvocations';

/**
 * Defines the script on a client (ioredis sends it by EVALSHA, and again in full when Redis answers
 * NOSCRIPT, as after a restart) and returns the function that writes a batch with it.
 */
export function defineWriteBatch(redis: Redis): WriteBatch {
  redis.defineCommand(COMMAND, { lua: WRITE_BATCH });
  const command = (redis as unknown as Record<typeof COMMAND, WriteBatch>)[COMMAND];
  return (...keysAndArgs) => command.apply(redis, keysAndArgs as [number, ...Array<string | number>]);
}

/** Records of one function and UTC hour, which share their index, their marks' set and their usage field. */
interface Group {
  fn: string;
  hour: number;
  records: InvocationRecord[];
  metered: Metered[];
  total: number;
}

/**
 * The batch in groups, in the order their first records came (so a later record of the same id is written
 * later, and wins). A group holds at most GROUP_MAX_RECORDS records and MB·ms summing to at most 2^53 - 1.
 */
export function groups(records: InvocationRecord[]): Group[] {
  const open = new Map<string, Group>();
  const out: Group[] = [];
  for (const r of records) {
    const m = meter(r);
    const key = `${m.function}\u0000${m.hour}`;
    let g = open.get(key);
    if (!g || g.records.length >= GROUP_MAX_RECORDS || g.total + m.mbMs > Number.MAX_SAFE_INTEGER) {
      g = { fn: m.function, hour: m.hour, records: [], metered: [], total: 0 };
      open.set(key, g);
      out.push(g);
    }
    g.records.push(r);
    g.metered.push(m);
    g.total += m.mbMs;
  }
  return out;
}

/** Writes `records` (and meters them) with the script; resolves to how many were billed (not seen before). */
export function writeInvocations(write: WriteBatch, k: StoreKeys, usageKeys: UsageKeys, records: InvocationRecord[], retention: InvocationRetention, now: number): Promise<number> {
  const usageMaxAgeMs = retention.usageMaxAgeMs ?? DEFAULT_USAGE_MAX_AGE_MS;
  const batch = groups(records);
  const keys: string[] = [usageKeys.functions];
  const recordKeys: string[] = [];
  const args: Array<string | number> = [now - retention.maxAgeMs, retention.maxPerFunction, retention.maxAgeMs, now - usageMaxAgeMs, usageMaxAgeMs, batch.length];
  for (const g of batch) {
    const day = Math.floor(g.hour / DAY_MS) * DAY_MS;
    // Formatted once per group: a Date and its ISO text per record were a fifth of the old write's cost.
    const hh = hourOfDay(g.hour);
    keys.push(k.invocationsOf(g.fn), usageKeys.billed(g.hour), usageKeys.usage(g.fn, day));
    args.push(g.fn, g.hour, hh, g.hour + HOUR_MS + retention.maxAgeMs, day + DAY_MS + usageMaxAgeMs, g.records.length);
    g.records.forEach((r, i) => {
      const m = g.metered[i]!;
      recordKeys.push(k.invocation(r.id));
      args.push(r.id, Date.parse(r.start), JSON.stringify(r), m.mark, m.mbMs, m.failed ? 1 : 0);
    });
  }
  for (const key of recordKeys) keys.push(key);
  return write(keys.length, ...keys, ...args);
}
