// KeyedTurns (core/keyed-turns.ts): one key's work in the order asked, other keys meanwhile, a failure
// passed to its caller without stopping the next turn.

import { describe, expect, it } from 'vitest';
import { KeyedTurns } from '../../core/keyed-turns.js';

const later = () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  return { gate, open };
};

describe('KeyedTurns', () => {
  it("runs one key's turns one after another, in order, and other keys meanwhile", async () => {
    const turns = new KeyedTurns();
    const ran: string[] = [];
    const first = later();
    const a1 = turns.take('a', async () => {
      await first.gate;
      ran.push('a1');
    });
    const a2 = turns.take('a', async () => void ran.push('a2'));
    const b1 = turns.take('b', async () => void ran.push('b1'));
    await b1;
    expect(ran).toEqual(['b1']); // b did not wait for a
    first.open();
    await Promise.all([a1, a2]);
    expect(ran).toEqual(['b1', 'a1', 'a2']);
  });

  it('gives a failure to its caller and still runs the next turn; settled() waits for all', async () => {
    const turns = new KeyedTurns();
    const failing = turns.take('a', async () => {
      throw new Error('store down');
    });
    let next = false;
    const after = turns.take('a', async () => {
      next = true;
    });
    await expect(failing).rejects.toThrow('store down');
    await turns.settled();
    expect(next).toBe(true);
    await after;
  });
});
