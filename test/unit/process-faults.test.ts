// The gateway process keeps serving through an error nobody caught (issue 7, finding 3), and gives up
// only when faults keep coming. Driven on an EventEmitter standing in for `process`.

import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import { keepServingThroughFaults } from '../../platform/process-faults.js';

function setup(limit = 3) {
  const proc = new EventEmitter();
  const lines: string[] = [];
  const logger = createLogger({ json: true, write: (l) => lines.push(l) });
  const gaveUp: string[] = [];
  let t = 0;
  const dispose = keepServingThroughFaults(proc, logger, (why) => gaveUp.push(why), { limit, windowMs: 1000, now: () => t });
  return { proc, lines, gaveUp, dispose, advance: (ms: number) => (t += ms) };
}

describe('process faults', () => {
  it('logs an unhandled rejection with its cause and serves on, however many there are', () => {
    const s = setup();
    for (let i = 0; i < 10; i++) s.proc.emit('unhandledRejection', new Error(`lost promise ${i}`), Promise.resolve());
    expect(s.gaveUp).toEqual([]);
    expect(s.lines).toHaveLength(10);
    expect(JSON.parse(s.lines[0]!)).toMatchObject({ level: 'error', err: { message: 'lost promise 0' } });
  });

  it('logs an uncaught exception and serves on; gives up once, when more than the limit come within the window', () => {
    const s = setup(3);
    for (let i = 0; i < 3; i++) s.proc.emit('uncaughtException', new Error(`boom ${i}`), 'uncaughtException');
    expect(s.gaveUp).toEqual([]);
    s.advance(1500); // the earlier ones left the window
    for (let i = 0; i < 3; i++) s.proc.emit('uncaughtException', new Error('again'), 'uncaughtException');
    expect(s.gaveUp).toEqual([]);
    s.proc.emit('uncaughtException', new Error('one too many'), 'uncaughtException');
    s.proc.emit('uncaughtException', new Error('and more'), 'uncaughtException');
    expect(s.gaveUp).toHaveLength(1);
    expect(s.gaveUp[0]).toMatch(/4 uncaught errors within 1 s/);
    expect(s.lines.every((l) => JSON.parse(l).level === 'error')).toBe(true);
  });

  it('removes its listeners when disposed', () => {
    const s = setup();
    expect(s.proc.listenerCount('uncaughtException')).toBe(1);
    s.dispose();
    expect(s.proc.listenerCount('uncaughtException')).toBe(0);
    expect(s.proc.listenerCount('unhandledRejection')).toBe(0);
  });
});
