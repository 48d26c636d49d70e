// The log collector with a fake log source and the MemoryStore: parsing of the runtime's JSON lines and
// of plain lines, batching (one store write per function per flush, never per line), close().
// Also the Docker log demultiplexer, fed frames split at awkward places.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../../core/store/memory.js';
import type { LogRecord } from '../../core/types.js';
import { LogCollector, parseLogLine } from '../../control/logs/log-collector.js';
import type { InstanceLogLine, InstanceLogSource } from '../../scheduler/backends/backend.js';
import { demuxLogs, LogDemuxer } from '../../scheduler/backends/docker-logs.js';

class FakeLogSource implements InstanceLogSource {
  readonly listeners = new Set<(e: InstanceLogLine) => void>();
  onLog(listener: (e: InstanceLogLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  write(text: string, over: Partial<InstanceLogLine> = {}): void {
    const e: InstanceLogLine = { instanceId: 'i-1', function: 'hello', version: 2, stream: 'stdout', text, time: Date.UTC(2030, 0, 1), ...over };
    for (const l of this.listeners) l(e);
  }
}

const rid = (id: string, level: string, msg: string) => JSON.stringify({ rid: id, level, msg });

describe('parseLogLine', () => {
  const entry = (text: string, stream: 'stdout' | 'stderr' = 'stdout'): InstanceLogLine => ({ instanceId: 'i', function: 'f', version: 1, stream, text, time: 0 });

  it('takes request id, level and message from the runtime\'s JSON line', () => {
    expect(parseLogLine(entry(rid('r-1', 'warn', 'careful\nsecond line'), 'stderr'))).toEqual({ requestId: 'r-1', level: 'warn', message: 'careful\nsecond line' });
    expect(parseLogLine(entry(rid('r-1', 'debug', 'x')))).toMatchObject({ level: 'debug' });
  });

  it('treats other lines as the instance\'s own, leveled by their stream', () => {
    expect(parseLogLine(entry('background tick'))).toEqual({ requestId: null, level: 'info', message: 'background tick' });
    expect(parseLogLine(entry('Error: boom', 'stderr'))).toEqual({ requestId: null, level: 'error', message: 'Error: boom' });
  });

  it('levels the runtime\'s own stderr notices by what they say, not by their stream', () => {
    expect(parseLogLine(entry('stratus-runtime: listening on unix:/run/x.sock (ready)', 'stderr'))).toEqual({ requestId: null, level: 'info', message: 'stratus-runtime: listening on unix:/run/x.sock (ready)' });
    expect(parseLogLine(entry('stratus-runtime: init failed: SyntaxError', 'stderr'))).toMatchObject({ level: 'error' });
    expect(parseLogLine(entry('stratus-runtime: cannot load handler "x" from /app: no file', 'stderr'))).toMatchObject({ level: 'error' });
  });

  it('keeps a line that only looks like the runtime\'s as a plain line', () => {
    expect(parseLogLine(entry('{"rid": broken'))).toEqual({ requestId: null, level: 'info', message: '{"rid": broken' });
    expect(parseLogLine(entry('{"rid":1,"msg":"x"}'))).toMatchObject({ requestId: null });
    expect(parseLogLine(entry(rid('r', 'shout', 'x'), 'stderr'))).toMatchObject({ requestId: 'r', level: 'error' });
  });
});

describe('LogCollector', () => {
  let source: FakeLogSource;
  let store: MemoryStore;
  let appends: Array<{ fn: string; lines: LogRecord[] }>;
  let collector: LogCollector;

  beforeEach(() => {
    vi.useFakeTimers();
    source = new FakeLogSource();
    store = new MemoryStore();
    appends = [];
    const append = store.appendLogs.bind(store);
    vi.spyOn(store, 'appendLogs').mockImplementation(async (fn, lines) => {
      appends.push({ fn, lines });
      return append(fn, lines);
    });
    collector = new LogCollector(source, store, { flushMs: 250, maxBatch: 100 });
  });

  afterEach(async () => {
    await collector.close();
    await store.close();
    vi.useRealTimers();
  });

  it('writes lines per function in one batch after flushMs, as records', async () => {
    source.write(rid('r-1', 'info', 'hello from r-1'));
    source.write('plain', { stream: 'stderr' });
    source.write(rid('r-9', 'info', 'other function'), { function: 'other', version: 1, instanceId: 'i-2' });
    expect(appends).toEqual([]);
    await vi.advanceTimersByTimeAsync(249);
    expect(appends).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(appends.map((a) => [a.fn, a.lines.length])).toEqual([['hello', 2], ['other', 1]]);
    expect(await store.readLogs('hello')).toEqual([
      { time: '2030-01-01T00:00:00.000Z', function: 'hello', version: 2, instance: 'i-1', requestId: 'r-1', level: 'info', stream: 'stdout', message: 'hello from r-1' },
      { time: '2030-01-01T00:00:00.000Z', function: 'hello', version: 2, instance: 'i-1', requestId: null, level: 'error', stream: 'stderr', message: 'plain' },
    ]);
    expect(await store.readLogs('hello', { requestId: 'r-1' })).toHaveLength(1);
  });

  it('writes a full batch at once, never one write per line', async () => {
    for (let i = 0; i < 250; i++) source.write(rid(`r-${i}`, 'info', `line ${i}`));
    await vi.advanceTimersByTimeAsync(0);
    expect(appends.map((a) => a.lines.length)).toEqual([100, 100]);
    await vi.advanceTimersByTimeAsync(250);
    expect(appends.map((a) => a.lines.length)).toEqual([100, 100, 50]);
    expect((await store.readLogs('hello')).map((l) => l.message).slice(-2)).toEqual(['line 248', 'line 249']);
  });

  it('drops the lines of an unspecialized stem and cuts runaway lines', async () => {
    const c = new LogCollector(source, store, { maxMessageChars: 10 });
    source.write('stem starting', { function: null, version: null });
    source.write('x'.repeat(50));
    await c.flush();
    await c.close();
    const kept = await store.readLogs('hello');
    expect(kept.map((l) => l.message)).toEqual(['xxxxxxxxxx…']);
  });

  it('close() flushes what is pending, unsubscribes, and is safe twice', async () => {
    source.write('last words', { stream: 'stderr' });
    await collector.close();
    await collector.close();
    expect(source.listeners.size).toBe(0);
    expect((await store.readLogs('hello')).map((l) => l.message)).toEqual(['last words']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('writes the lines of a failed write again (Redis restarting), ahead of newer ones, losing none', async () => {
    vi.mocked(store.appendLogs).mockRejectedValueOnce(new Error('redis down')).mockRejectedValueOnce(new Error('still down'));
    source.write('first');
    await collector.flush(); // fails: kept for another try
    source.write('second');
    await vi.waitFor(async () => expect((await store.readLogs('hello')).map((l) => l.message)).toEqual(['first', 'second']), { timeout: 5000 });
    expect(collector.dropped).toBe(0);
  });

  it('drops what a failed write leaves when stopping, and counts it', async () => {
    vi.mocked(store.appendLogs).mockRejectedValue(new Error('redis gone'));
    source.write('lost');
    await collector.close();
    expect(collector.dropped).toBe(1);
  });

  it('drops batches past maxInFlight writes instead of queueing without bound', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    vi.mocked(store.appendLogs).mockImplementation(() => blocked);
    const c = new LogCollector(source, store, { maxBatch: 1, maxInFlight: 2 });
    source.write('a');
    source.write('b');
    source.write('c');
    expect(c.dropped).toBe(1);
    release();
    await c.close();
  });
});

describe('LogDemuxer', () => {
  const frame = (stream: 1 | 2, text: string) => {
    const payload = Buffer.from(text, 'utf8');
    const header = Buffer.alloc(8);
    header[0] = stream;
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  };

  it('splits frames into lines per stream, across chunk, header and UTF-8 boundaries', () => {
    const lines: string[] = [];
    const d = new LogDemuxer((s, text) => lines.push(`${s}:${text}`));
    const all = Buffer.concat([frame(1, 'one\ntw'), frame(2, 'err ✓\n'), frame(1, 'o\nthree'), frame(2, 'no newline')]);
    for (let i = 0; i < all.length; i += 3) d.push(all.subarray(i, i + 3));
    expect(lines).toEqual(['stdout:one', 'stderr:err ✓', 'stdout:two']);
    d.end();
    expect(lines.slice(3)).toEqual(['stdout:three', 'stderr:no newline']);
  });

  it('reads a whole buffer for the last lines of a failed start', () => {
    expect(demuxLogs(Buffer.concat([frame(1, 'a\n'), frame(2, 'b')]))).toBe('a\nb');
  });
});
