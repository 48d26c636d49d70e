// The in-memory store's metering (core/store/usage.ts): hourly usage per function and the billing marks
// that keep a record written twice from being billed twice, both pruned by age as records are added.

import { DAY_MS, DEFAULT_USAGE_MAX_AGE_MS, HOUR_MS, addRow, meter, sortRows, type UsageRange, type UsageRow } from './usage.js';
import type { InvocationRecord, InvocationRetention } from './invocations.js';

/** Pruning walks every row: once a minute is enough for what expires by the hour and the day. */
const PRUNE_EVERY_MS = 60_000;

export class MemoryUsage {
  /** Function and hour -> usage. */
  readonly #rows = new Map<string, UsageRow>();
  /** Hour -> the marks of the records billed in it (kept for the records' retention). */
  readonly #marks = new Map<number, Set<string>>();
  #prunedAt = -Infinity;

  add(records: InvocationRecord[], retention: InvocationRetention, now: number): void {
    for (const r of records) {
      const m = meter(r);
      let marks = this.#marks.get(m.hour);
      if (!marks) this.#marks.set(m.hour, (marks = new Set()));
      if (marks.has(m.mark)) continue;
      marks.add(m.mark);
      addRow(this.#rows, m.function, m.hour, { requests: 1, failed: m.failed ? 1 : 0, mbMs: BigInt(m.mbMs) });
    }
    if (now - this.#prunedAt >= PRUNE_EVERY_MS) this.#prune(retention, now);
  }

  /** As the Redis keys expire: an hour's marks with the records of that hour, a day's usage after its retention. */
  #prune(retention: InvocationRetention, now: number): void {
    this.#prunedAt = now;
    for (const hour of this.#marks.keys()) if (hour + HOUR_MS + retention.maxAgeMs < now) this.#marks.delete(hour);
    const usageMaxAgeMs = retention.usageMaxAgeMs ?? DEFAULT_USAGE_MAX_AGE_MS;
    for (const [key, row] of this.#rows) if (Math.floor(row.hour / DAY_MS) * DAY_MS + DAY_MS + usageMaxAgeMs < now) this.#rows.delete(key);
  }

  read(range: UsageRange): UsageRow[] {
    const out: UsageRow[] = [];
    for (const row of this.#rows.values()) {
      if ((range.function === undefined || row.function === range.function) && row.hour >= range.fromMs && row.hour < range.toMs) out.push({ ...row });
    }
    return sortRows(out);
  }
}
