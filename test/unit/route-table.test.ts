// The data plane's route table: a miss (unknown name, no ready version) must not cost store reads per
// request, and must be forgotten as soon as the store reports a change to the function. (Prewarm, retire
// and a deleted function's metric series are the served-versions reconciler's: served-versions.test.ts.)

import { describe, expect, it, vi } from 'vitest';
import { parseFunctionConfig } from '../../core/function-config.js';
import { ManualClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import { RouteTable } from '../../gateway/dataplane/route-table.js';

const config = parseFunctionConfig({ name: 'hello', runtime: 'node' });
const now = new Date(0).toISOString();

async function setup() {
  const store = new MemoryStore();
  const clock = new ManualClock(1_000_000);
  const routes = new RouteTable(store, silentLogger, clock);
  const reads = vi.spyOn(store, 'getFunction');
  return { store, clock, routes, reads };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('RouteTable misses', () => {
  it('reads the store once for a stream of calls to an unknown name', async () => {
    const { routes, reads } = await setup();
    for (let i = 0; i < 50; i++) await expect(routes.resolve('nobody')).rejects.toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
    expect(reads.mock.calls.length).toBeLessThanOrEqual(2);
    await routes.close();
  });

  it('forgets a miss when the function is created, and routes to it once ready', async () => {
    const { store, routes } = await setup();
    await expect(routes.resolve('hello')).rejects.toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
    await store.putVersion({ function: 'hello', version: 1, config, status: 'ready', image: 'img:v1', artifactDir: null, buildId: null, createdAt: now });
    await store.putFunction({ name: 'hello', config, currentVersion: 1, latestVersion: 1, createdAt: now, updatedAt: now });
    await settle();
    await expect(routes.resolve('hello')).resolves.toMatchObject({ version: 1, image: 'img:v1' });
    await routes.close();
  });

  it('remembers "still building" for a few seconds at most, even if no change notice arrives', async () => {
    const { store, clock, routes, reads } = await setup();
    await store.putVersion({ function: 'hello', version: 1, config, status: 'building', image: null, artifactDir: null, buildId: null, createdAt: now });
    await store.putFunction({ name: 'hello', config, currentVersion: null, latestVersion: 1, createdAt: now, updatedAt: now });
    await settle();
    await expect(routes.resolve('hello')).rejects.toMatchObject({ code: 'FUNCTION_NOT_READY' });
    const afterFirst = reads.mock.calls.length;
    await expect(routes.resolve('hello')).rejects.toMatchObject({ code: 'FUNCTION_NOT_READY' });
    expect(reads.mock.calls.length).toBe(afterFirst);
    clock.advance(6000);
    await expect(routes.resolve('hello')).rejects.toMatchObject({ code: 'FUNCTION_NOT_READY' });
    expect(reads.mock.calls.length).toBeGreaterThan(afterFirst);
    await routes.close();
  });
});

describe('RouteTable on a delete', () => {
  it('drops the route when another replica deletes the function', async () => {
    const store = new MemoryStore();
    const routes = new RouteTable(store, silentLogger, new ManualClock(0));
    await store.putVersion({ function: 'hello', version: 1, config, status: 'ready', image: 'img:v1', artifactDir: null, buildId: null, createdAt: now });
    await store.putFunction({ name: 'hello', config, currentVersion: 1, latestVersion: 1, createdAt: now, updatedAt: now });
    await expect(routes.resolve('hello')).resolves.toMatchObject({ version: 1 });
    // What another replica's FunctionService.remove() does to the store; this table only hears the notice.
    await store.deleteFunction('hello');
    for (let i = 0; i < 100 && routes.lookup('hello'); i++) await settle();
    expect(routes.lookup('hello')).toBeUndefined();
    await routes.close();
  });
});
