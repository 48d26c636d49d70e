// A replica that lets go of an instance while it does not lead (a Redis outage took its lease, or another
// replica held it) only forgets it: stopping is the leader's. These are the two ways such an instance still
// goes — the next leader's sweep stops one whose version is gone, and the last replica to stop takes it
// with it — on a real Redis directory, with the lease taken by a second directory as another replica would.

import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { createRedisClient } from '../../core/redis-client.js';
import { RedisDirectory } from '../../scheduler/shared/redis-directory.js';
import { missing, REDIS_URL } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';
import { harness, version, within, type Harness } from './scheduler-harness.js';

const prefix = `stratus-test-leaderless-${randomUUID()}:`;
const directories: RedisDirectory[] = [];
let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
  for (const d of directories.splice(0)) await d.close();
  await removeRedisKeys(REDIS_URL, prefix);
});

async function directory(replica: string): Promise<RedisDirectory> {
  const client = (use: string) => createRedisClient(REDIS_URL, { name: `${replica}-${use}`, use: 'commands', logger: silentLogger });
  const d = new RedisDirectory({ redis: client('cmd'), subscriber: client('sub'), prefix, replica, logger: silentLogger });
  await d.start();
  directories.push(d);
  return d;
}

/** One instance of `gone@1`, started while this replica led; then the lease is another replica's and the function is deleted. */
async function instanceLetGoWithoutLead(): Promise<{ h: Harness; id: string; mine: RedisDirectory }> {
  const mine = await directory('mine');
  const other = await directory('other');
  h = harness({ directory: mine });
  const v = version('gone', 1);
  h.versions.set('gone@1', v);
  await h.scheduler.reconcile(); // the first exchange: this replica leads
  const lease = await h.scheduler.acquire(v, within(h));
  const id = lease.instance.instanceId;
  lease.release('ok');
  await vi.waitFor(async () => expect((await mine.list()).map((r) => r.id)).toEqual([id]));

  await mine.resign();
  expect(await other.lead(60_000)).toBe(true);
  h.scheduler.tick();
  await vi.waitFor(() => expect(h!.scheduler.leads).toBe(false));
  h.versions.delete('gone@1');
  await h.scheduler.retire('gone');
  await new Promise((r) => setTimeout(r, 100));
  expect(h.backend.running.has(id)).toBe(true); // not this replica's to stop: it does not lead
  await other.resign();
  // Long enough ago that it is no start still on its way into a pool (start timeout + 5 s; the backend stamps real time).
  h.clock.advance(Date.now() - h.clock.now() + 10_001);
  return { h, id, mine };
}

describe.skipIf(await missing('redis'))('instances let go of while no replica led', () => {
  it('the next leader sweeps: an instance of a deleted version drains and stops', async () => {
    const { h, id, mine } = await instanceLetGoWithoutLead();
    await vi.waitFor(
      () => {
        h.scheduler.tick();
        expect(h.backend.running.has(id)).toBe(false);
      },
      { timeout: 5000, interval: 100 },
    );
    expect(h.scheduler.leads).toBe(true);
    await vi.waitFor(async () => expect(await mine.list()).toEqual([]));
  });

  it('the last replica to stop takes it with it and leaves the directory empty', async () => {
    const { h, id } = await instanceLetGoWithoutLead();
    await h.scheduler.close();
    expect(h.backend.running.has(id)).toBe(false);
    expect(h.backend.stops).toContain(id);
    expect(await (await directory('reader')).list()).toEqual([]);
  });
});
