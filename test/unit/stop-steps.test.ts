// The platform's stop names each step, says a long one while it lasts and tells which one it waits for.

import { describe, expect, it } from 'vitest';
import { StopSteps } from '../../platform/boot/stop-steps.js';

describe('StopSteps', () => {
  it('runs the steps in order, names the one under way and warns while a step takes long', async () => {
    const warned: string[] = [];
    const steps = new StopSteps({ debug: () => {}, warn: (m) => void warned.push(m) }, 20);
    const order: string[] = [];
    let release!: () => void;
    const running = steps.run([
      ['first', () => void order.push('first')],
      ['slow queue', () => new Promise<void>((r) => (release = () => { order.push('slow'); r(); }))],
      ['last', async () => void order.push('last')],
    ]);
    await new Promise((r) => setTimeout(r, 70));
    expect(steps.current()).toBe('slow queue');
    expect(warned.length).toBeGreaterThanOrEqual(2);
    expect(warned.every((w) => /^still stopping: slow queue \(\d+ s\)$/.test(w))).toBe(true);
    release();
    await running;
    expect(order).toEqual(['first', 'slow', 'last']);
    expect(steps.current()).toBeNull();
    const after = warned.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(warned.length).toBe(after); // the watch ended with its step
  });

  it('stops at a step that fails, still naming it', async () => {
    const steps = new StopSteps({ debug: () => {}, warn: () => {} }, 1000);
    await expect(steps.run([['store', () => Promise.reject(new Error('gone'))], ['never', () => {}]])).rejects.toThrow('gone');
    expect(steps.current()).toBe('store');
  });
});
