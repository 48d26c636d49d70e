// The Redis store's metering (core/store/usage.ts): added up by the script that writes a batch of
// invocation records (redis-invocations.ts) — in the same round trip, applied with the records or not at
// all — and read here. Keys under the platform's prefix:
//   usage:<name>:<YYYY-MM-DD>  hash  r:HH requests, f:HH failed, m:HH MB·ms of each UTC hour (HINCRBY:
//                              64-bit integers); expires the usage retention after the day's end
//   usage-fns                  zset  name -> the last hour it was billed in: the functions a range reads
//   billed:<YYYY-MM-DDTHH>     set   the billing marks of the records that started in that hour; expires
//                              with those records (the invocation retention after the hour's end)
// Usage outlives its function on purpose: a bill does not forget a deleted function's calls.

import type { Redis } from 'ioredis';
import { HOUR_MS, addRow, dayOf, daysIn, hourOfDay, sortRows, type UsageRange, type UsageRow } from './usage.js';

/** The usage keys under a prefix: written by redis-invocations.ts with the records, read here. */
export function usageKeys(p: string) {
  return {
    functions: `${p}usage-fns`,
    billed: (hour: number) => `${p}billed:${dayOf(hour)}T${hourOfDay(hour)}`,
    usage: (fn: string, day: number) => `${p}usage:${fn}:${dayOf(day)}`,
  } as const;
}
export type UsageKeys = ReturnType<typeof usageKeys>;

/** The hourly rows of `range`: one HGETALL per function and day, in one pipeline. */
export async function readUsage(redis: Redis, keys: UsageKeys, range: UsageRange): Promise<UsageRow[]> {
  const fns = range.function !== undefined ? [range.function] : await redis.zrangebyscore(keys.functions, range.fromMs, '+inf');
  const days = daysIn(range.fromMs, range.toMs);
  if (fns.length === 0 || days.length === 0) return [];
  const pipe = redis.pipeline();
  for (const fn of fns) for (const day of days) pipe.hgetall(keys.usage(fn, day));
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
