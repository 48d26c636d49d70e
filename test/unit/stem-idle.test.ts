// Stems of a runtime nothing uses any more are stopped after STRATUS_STEM_IDLE_MS (issue 10, item 3): no
// deployed version of the runtime and no specialization for that long. Driven by the harness's manual clock.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { harness, version, within, type Harness } from './scheduler-harness.js';

const IDLE_MS = 600_000;
let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

const withCode = (fn: string, v = 1, runtime: 'node' | 'python' = 'node') =>
  version(fn, v, { runtime }, { artifactDir: `/artifacts/${fn}/${v}`, handler: runtime === 'node' ? 'index.handler' : 'main.handler' });
const stemsOf = (runtime: string) => h.backend.byRole('stem').filter((s) => s.spec.runtime === runtime);
const settle = () => new Promise((r) => setTimeout(r, 20));

async function readyWith(...versions: ReturnType<typeof withCode>[]): Promise<void> {
  h = harness({ settings: { stemPoolSize: 2, stemIdleMs: IDLE_MS } });
  for (const v of versions) await h.scheduler.prewarm(v);
  for (const v of versions) await vi.waitFor(() => expect(h.scheduler.stems.readyCount(v.config.runtime!)).toBe(2));
}

describe('stems of an unused runtime', () => {
  it('are stopped once no deployed version has used the runtime for the idle period, and come back with a deploy', async () => {
    await readyWith(withCode('py-fn', 1, 'python'), withCode('node-fn'));
    const pythonStems = stemsOf('python').map((s) => s.spec.instanceId);
    await h.scheduler.retire('py-fn'); // deleted
    h.clock.advance(IDLE_MS - 1000);
    h.scheduler.tick();
    await settle();
    expect(stemsOf('python')).toHaveLength(2); // not idle long enough yet
    h.clock.advance(1000);
    h.scheduler.tick();
    await vi.waitFor(() => expect(stemsOf('python')).toHaveLength(0));
    expect(h.backend.stops).toEqual(expect.arrayContaining(pythonStems));
    expect(h.scheduler.stems.readyCount('python')).toBe(0);
    expect(h.registry.render()).toMatch(/stratus_stems_ready\{runtime="python"\} 0/);
    // Node is deployed still: its stems stay however long nothing calls it.
    expect(stemsOf('node')).toHaveLength(2);

    h.clock.advance(IDLE_MS);
    h.scheduler.tick();
    await settle();
    expect(h.backend.starts.filter((s) => s.role === 'stem' && s.runtime === 'python')).toHaveLength(2); // no refill
    expect(stemsOf('node')).toHaveLength(2);

    await h.scheduler.prewarm(withCode('py-fn', 2, 'python')); // deployed again
    await vi.waitFor(() => expect(h.scheduler.stems.readyCount('python')).toBe(2));
  });

  it('stay while another function of the runtime is deployed, and a retired old version does not count', async () => {
    await readyWith(withCode('a'), withCode('b'));
    await h.scheduler.prewarm(withCode('a', 2));
    await h.scheduler.retire('a', 2); // v1 replaced by v2
    await h.scheduler.retire('b'); // b deleted
    h.clock.advance(IDLE_MS * 2);
    h.scheduler.tick();
    await settle();
    expect(stemsOf('node')).toHaveLength(2);
    await h.scheduler.retire('a'); // the last one goes
    h.clock.advance(IDLE_MS);
    h.scheduler.tick();
    await vi.waitFor(() => expect(stemsOf('node')).toHaveLength(0));
  });

  it('a specialization restarts the idle period, as a call of a version by number does', async () => {
    await readyWith(withCode('gone'));
    await h.scheduler.retire('gone');
    h.clock.advance(IDLE_MS - 1000);
    const lease = await h.scheduler.acquire(withCode('gone', 1), within(h)); // /fn/gone@v1 still in flight, say
    expect(lease.start).toBe('stem');
    lease.release('ok');
    h.clock.advance(IDLE_MS - 1000);
    h.scheduler.tick();
    await settle();
    expect(h.scheduler.stems.readyCount('node')).toBeGreaterThan(0);
    h.clock.advance(1000);
    h.scheduler.tick();
    await vi.waitFor(() => expect(h.scheduler.stems.readyCount('node')).toBe(0));
  });

  it('a stem still starting when its runtime goes idle is stopped once it is up', async () => {
    h = harness({ settings: { stemPoolSize: 1, stemIdleMs: 0 } });
    const open = h.backend.holdStarts();
    h.scheduler.stems.fill('python'); // a call wanted one; nothing deployed
    h.scheduler.tick(); // idle at once (0 ms)
    open();
    await vi.waitFor(() => expect(h.backend.starts.filter((s) => s.role === 'stem')).toHaveLength(1));
    await vi.waitFor(() => expect(stemsOf('python')).toHaveLength(0));
    expect(h.scheduler.stems.readyCount('python')).toBe(0);
  });
});
