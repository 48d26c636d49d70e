// The Redis store's metering (core/store/usage.ts), added to the MULTI that writes a batch of invocation
// records — one more command in the same round trip, applied with the records or not at all. Keys under
// the platform's prefix:
//   usage:<name>:<YYYY-MM-DD>  hash  r:HH requests, f:HH failed, m:HH MB·ms of each UTC hour (HINCRBY:
//                              64-bit integers); expires the usage retention after the day's end
//   usage-fns                  zset  name -> the last hour it was billed in: the functions a range reads
//   billed:<YYYY-MM-DDTHH>     set   the billing marks of the records that started in that hour; expires
//                              with those records (the invocation retention after the hour's end)
// Usage outlives its function on purpose: a bill does not forget a deleted function's calls.

import type { ChainableCommander, Redis } from 'ioredis';
import type { InvocationRecord, InvocationRetention } from './invocations.js';
import { DAY_MS, DEFAULT_USAGE_MAX_AGE_MS, HOUR_MS, addRow, dayOf, daysIn, hourOfDay, meter, sortRows, type UsageRange, type UsageRow } from './usage.js';

// KEYS[1]: usage-fns; then per record its billed set and its usage hash. ARGV[1], ARGV[2]: usage-fns's
// trim score and time to live; then per record (RECORD_ARGS): mark, hour of day, MB·ms, failed (0/1),
// expiry of the marks, expiry of the usage, function, hour (ms). A Lua script because the increments
// depend on SADD's answer; the numbers stay strings Redis parses as 64-bit integers, never Lua doubles.
const ADD_USAGE = `
local billed = 0
for i = 1, (#KEYS - 1) / 2 do
  local marks, usage, a = KEYS[2 * i], KEYS[2 * i + 1], 2 + (i - 1) * 8
  if redis.call('SADD', marks, ARGV[a + 1]) == 1 then
    redis.call('PEXPIREAT', marks, ARGV[a + 5])
    redis.call('HINCRBY', usage, 'r:' .. ARGV[a + 2], 1)
    redis.call('HINCRBY', usage, 'm:' .. ARGV[a + 2], ARGV[a + 3])
    if ARGV[a + 4] == '1' then redis.call('HINCRBY', usage, 'f:' .. ARGV[a + 2], 1) end
    redis.call('PEXPIREAT', usage, ARGV[a + 6])
    local last = redis.call('ZSCORE', KEYS[1], ARGV[a + 7])
    if not last or tonumber(last) < tonumber(ARGV[a + 8]) then redis.call('ZADD', KEYS[1], ARGV[a + 8], ARGV[a + 7]) end
    billed = billed + 1
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return billed`;

/** Queues the usage of `records` on `tx`, the MULTI that writes them. */
export function addUsage(tx: ChainableCommander, p: string, records: InvocationRecord[], retention: InvocationRetention, now: number): void {
  if (records.length === 0) return;
  const usageMaxAgeMs = retention.usageMaxAgeMs ?? DEFAULT_USAGE_MAX_AGE_MS;
  const keys: string[] = [`${p}usage-fns`];
  const args: Array<string | number> = [now - usageMaxAgeMs, usageMaxAgeMs];
  for (const r of records) {
    const m = meter(r);
    const day = Math.floor(m.hour / DAY_MS) * DAY_MS;
    keys.push(`${p}billed:${dayOf(m.hour)}T${hourOfDay(m.hour)}`, `${p}usage:${m.function}:${dayOf(m.hour)}`);
    args.push(m.mark, hourOfDay(m.hour), m.mbMs, m.failed ? 1 : 0, m.hour + HOUR_MS + retention.maxAgeMs, day + DAY_MS + usageMaxAgeMs, m.function, m.hour);
  }
  tx.eval(ADD_USAGE, keys.length, ...keys, ...args);
}

/** The hourly rows of `range`: one HGETALL per function and day, in one pipeline. */
export async function readUsage(redis: Redis, p: string, range: UsageRange): Promise<UsageRow[]> {
  const fns = range.function !== undefined ? [range.function] : await redis.zrangebyscore(`${p}usage-fns`, range.fromMs, '+inf');
  const days = daysIn(range.fromMs, range.toMs);
  if (fns.length === 0 || days.length === 0) return [];
  const pipe = redis.pipeline();
  for (const fn of fns) for (const day of days) pipe.hgetall(`${p}usage:${fn}:${dayOf(day)}`);
  const replies = (await pipe.exec()) ?? [];
  const rows = new Map<string, UsageRow>();
  replies.forEach(([err, fields], i) => {
    if (err) throw err;
    const fn = fns[Math.floor(i / days.length)]!;
    const day = days[i % days.length]!;
    for (const [field, value] of Object.entries(fields as Record<string, string>)) {
      const hour = day + Number(field.slice(2)) * HOUR_MS;
      if (hour < range.fromMs || hour >= range.toMs) continue;
      const kind = field.slice(0, 2);
      addRow(rows, fn, hour, { requests: kind === 'r:' ? Number(value) : 0, failed: kind === 'f:' ? Number(value) : 0, mbMs: kind === 'm:' ? BigInt(value) : 0n });
    }
  });
  return sortRows(rows.values());
}
