// The platform's stop as a stack (platform/shutdown.ts): phases in order, within a phase the newest part
// first, each close once, nothing registered once the stop began.

import { describe, expect, it } from 'vitest';
import { ShutdownStack } from '../../platform/shutdown.js';

const quiet = { debug: () => {}, warn: () => {} };

describe('ShutdownStack', () => {
  it('runs the phases in order and, within one, the closes newest first', async () => {
    const stack = new ShutdownStack(quiet);
    const ran: string[] = [];
    const add = (phase: Parameters<ShutdownStack['add']>[0], name: string) => stack.add(phase, name, () => void ran.push(name));
    // Made in the order a composition root makes them: the store first, the listener last.
    add('state', 'store');
    add('instances', 'backend');
    add('work', 'notifications');
    add('work', 'scheduler');
    add('work', 'async queue');
    add('state', 'records');
    add('intake', 'cron');
    add('work', 'builder');
    add('connections', 'HTTP connections');
    add('intake', 'listener');
    add('notice', 'drain notice'); // made late (with the app), run first: readiness says 503 before anything closes
    expect(stack.order()).toEqual([
      'notice: drain notice', 'intake: listener', 'intake: cron',
      'work: builder', 'work: async queue', 'work: scheduler', 'work: notifications',
      'connections: HTTP connections', 'instances: backend', 'state: records', 'state: store',
    ]);
    await stack.stop();
    expect(ran).toEqual(['drain notice', 'listener', 'cron', 'builder', 'async queue', 'scheduler', 'notifications', 'HTTP connections', 'backend', 'records', 'store']);
  });

  it('runs each close once however often stop is called, waits for async closes, and refuses a late registration', async () => {
    const stack = new ShutdownStack(quiet);
    let closes = 0;
    let release!: () => void;
    stack.add('work', 'queue', () => new Promise<void>((r) => (release = () => { closes++; r(); })));
    const first = stack.stop();
    const second = stack.stop();
    expect(second).toBe(first);
    await new Promise((r) => setTimeout(r, 10));
    expect(stack.current()).toBe('queue');
    expect(() => stack.add('state', 'late', () => {})).toThrow(/after the stop began/);
    release();
    await first;
    expect(closes).toBe(1);
    expect(stack.current()).toBeNull();
  });
});
