// Time-ordered ids (core/ids.ts): valid UUIDv7s that sort as they were made and tell when, so a request
// id, an async invocation id and a build id list in time order anywhere they are compared as text.

import { validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { newBuildId, newInvocationId, newRequestId } from '../../core/ids.js';

const msOf = (id: string): number => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

describe('time-ordered ids', () => {
  it('are UUIDv7s in lowercase, within what an idempotency scope accepts', () => {
    for (const make of [newRequestId, newInvocationId, newBuildId]) {
      const id = make();
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('carry the time they were made', () => {
    const before = Date.now();
    const id = newRequestId();
    expect(msOf(id)).toBeGreaterThanOrEqual(before);
    expect(msOf(id)).toBeLessThanOrEqual(Date.now());
  });

  it('sort as text in the order they were made, also many within one millisecond, and never repeat', () => {
    // More ids than the random pool holds, so a refill is crossed too.
    const ids = Array.from({ length: 20_000 }, (_, i) => (i % 3 === 0 ? newRequestId() : i % 3 === 1 ? newInvocationId() : newBuildId()));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('differ in their random part from one call to the next', () => {
    const tails = new Set(Array.from({ length: 1000 }, () => newRequestId().slice(-12)));
    expect(tails.size).toBe(1000);
  });
});
