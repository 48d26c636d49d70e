// Reconcile after a restart must not stop running functions on the word of a store that cannot know
// them: a fresh in-memory store (or an emptied Redis) names no function, and that is no proof that they
// were deleted. It still removes what the store positively rules out: other versions, idle stems.

import { afterEach, describe, expect, it } from 'vitest';
import type { InstanceSpec } from '../../scheduler/backends/backend.js';
import { harness, version, type Harness } from './scheduler-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const spec = (id: string, role: 'function' | 'stem', fn: string | null, v: number | null): InstanceSpec => ({
  instanceId: id, role, runtime: 'node', function: fn, version: v, image: 'img', artifactDir: null, handler: null, memoryMb: 128, cpus: null, network: 'egress', env: {},
});

/** What an earlier run left: two instances of a function this store has never heard of, one of a known app, a stem. */
async function leftovers(h: Harness): Promise<void> {
  await h.backend.start(spec('shop-1-a', 'function', 'shop', 1));
  await h.backend.start(spec('shop-1-b', 'function', 'shop', 1));
  await h.backend.start(spec('app-1', 'function', 'app', 1));
  await h.backend.start(spec('app-2', 'function', 'app', 2));
  await h.backend.start(spec('stem-x', 'stem', null, null));
  h.current.set('app', 2);
  h.versions.set('app@2', version('app', 2));
}

describe('reconcile against a store that does not remember earlier runs', () => {
  it('removes no instance of a function the store does not know (the default)', async () => {
    h = harness();
    await leftovers(h);
    await h.scheduler.reconcile();
    expect(h.backend.stops).not.toContain('shop-1-a');
    expect(h.backend.stops).not.toContain('shop-1-b');
    expect([...h.backend.running.keys()].sort()).toEqual(['app-2', 'shop-1-a', 'shop-1-b']);
    // What the store does know is still put right: the old version and the idle stem go, the current is adopted.
    expect(h.backend.stops.sort()).toEqual(['app-1', 'stem-x']);
    expect(h.scheduler.instances('app').map((i) => i.id)).toEqual(['app-2']);
  });

  it('an empty store: nothing running is removed but idle stems', async () => {
    h = harness();
    await h.backend.start(spec('shop-1-a', 'function', 'shop', 1));
    await h.backend.start(spec('stem-x', 'stem', null, null));
    await h.scheduler.reconcile({ storeRemembers: false });
    expect([...h.backend.running.keys()]).toEqual(['shop-1-a']);
  });

  it('with a store that remembers (Redis holding functions), an unknown function counts as deleted', async () => {
    h = harness();
    await leftovers(h);
    await h.scheduler.reconcile({ storeRemembers: true });
    expect([...h.backend.running.keys()]).toEqual(['app-2']);
  });
});
