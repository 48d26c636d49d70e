// teeRecords: the record writer with in-memory observers beside it (the error-rate watch, the dashboard's hour).

import { describe, expect, it } from 'vitest';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { teeRecords } from '../../control/invocations/invocation-records.js';

const rec = { id: 'r1', function: 'hello', version: 1, trigger: 'http', start: 't', durationMs: 1, statusCode: 200, outcome: 'succeeded', billedMs: 1, memoryMb: 128 } as InvocationRecord;

describe('teeRecords', () => {
  it('hands every record to the writer, then to each observer, skipping absent ones, and keeps the writer\'s flush', async () => {
    const seen: string[] = [];
    let flushed = 0;
    const writer = { record: (r: InvocationRecord) => void seen.push(`writer ${r.id}`), flush: async () => void flushed++ };
    const sink = teeRecords(writer, { record: (r) => void seen.push(`a ${r.id}`) }, null, { record: (r) => void seen.push(`b ${r.id}`) });
    sink.record(rec);
    await sink.flush!();
    expect(seen).toEqual(['writer r1', 'a r1', 'b r1']);
    expect(flushed).toBe(1);
    expect(teeRecords(writer, null)).toBe(writer);
  });
});
