// The invocation-record writer during a stop (control/invocations/invocation-records.ts): an async attempt
// waits in flush() until its record is stored, retrying while the store fails — but once a stop began
// (endRetries), a flush tries once more and returns, else the attempt would hold the stop for as long as the
// store is away (the stop closes the writer only after the attempts are done).

import { describe, expect, it } from 'vitest';
import { BatchedRecordWriter } from '../../control/invocations/invocation-records.js';
import type { InvocationRecord } from '../../core/store/invocations.js';

const record = (id: string): InvocationRecord =>
  ({ id, function: 'f', version: 1, trigger: 'async', start: new Date(0).toISOString(), durationMs: 1, statusCode: 200, outcome: 'succeeded', billedMs: 1, memoryMb: 128 }) as InvocationRecord;

describe('BatchedRecordWriter during a stop', () => {
  it('a flush keeps trying while the store fails, and returns once the stop began', async () => {
    let tries = 0;
    const writer = new BatchedRecordWriter({ appendInvocations: async () => { tries++; throw new Error('store away'); } }, { flushMs: 5, maxRetryMs: 20 });
    writer.record(record('a'));
    let flushed = false;
    const flushing = writer.flush().then(() => (flushed = true));
    while (tries < 3) await new Promise((r) => setTimeout(r, 5));
    expect(flushed).toBe(false); // still trying: the store failed three times
    writer.endRetries();
    await flushing; // before endRetries existed: never
    expect(flushed).toBe(true);
    await writer.close();
    expect(writer.dropped).toBe(1); // what the store never took is counted, not kept
  });

  it('with the store there, a flush after endRetries still stores what is pending', async () => {
    const stored: string[] = [];
    const writer = new BatchedRecordWriter({ appendInvocations: async (rs: InvocationRecord[]) => { stored.push(...rs.map((r) => r.id)); } }, { flushMs: 5 });
    writer.endRetries();
    writer.record(record('b'));
    await writer.flush();
    expect(stored).toEqual(['b']);
    await writer.close();
  });
});
