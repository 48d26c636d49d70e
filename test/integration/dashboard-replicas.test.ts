// Two gateways of one platform on one Redis (each built through platform/assemble.ts with its own
// RedisStore on the same prefix, as two replicas behind a balancer are): the dashboard session is the
// platform's. Signed in on A, an action posted to B with A's cookie and CSRF token is accepted; the flash
// B wrote before its redirect is shown by A's next page, once; a sign-out on B signs the browser out of A.

import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { RedisStore } from '../../core/store/redis.js';
import { FakeBuilder } from '../support/fake-builder.js';
import { FakeScheduler } from '../support/fake-scheduler.js';
import { testPlatform, type TestPlatform } from '../support/test-platform.js';
import { REDIS_URL, missing } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';

const API_KEY = 'replicas-key-0123456789abcdef';

interface Replica {
  platform: TestPlatform;
  builder: FakeBuilder;
  server: http.Server;
  base: string;
}

describe.skipIf(await missing('redis'))('dashboard sessions across two gateways on one Redis', () => {
  const prefix = `stratus-ui-replicas-${randomUUID().slice(0, 8)}:`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-ui-replicas-'));
  const replicas: Replica[] = [];
  let a: Replica;
  let b: Replica;

  async function replica(name: string): Promise<Replica> {
    const config = loadConfig({ STRATUS_STATE_DIR: path.join(dir, name), STRATUS_AUTO_ROLLBACK: 'off' });
    const store = new RedisStore(REDIS_URL, { prefix, logger: silentLogger });
    await store.watching();
    const builder = new FakeBuilder(store);
    const scheduler = new FakeScheduler({ kind: 'unix', socketPath: path.join(dir, `${name}.sock`) });
    const platform = testPlatform({ config, store, builder, scheduler, logger: silentLogger, apiKey: API_KEY });
    const server = http.createServer(platform.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const r = { platform, builder, server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    replicas.push(r);
    return r;
  }

  beforeAll(async () => {
    a = await replica('a');
    b = await replica('b');
    // A function to act on, uploaded through A's API and built (the fake builder writes what a build writes).
    const form = new FormData();
    form.append('config', JSON.stringify({ name: 'hello', runtime: 'node' }));
    form.append('code', new Blob(['export default () => 1;\n']), 'index.mjs');
    const up = await fetch(`${a.base}/v1/functions`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: form });
    expect(up.status).toBe(202);
    await a.builder.succeed(((await up.json()) as { buildId: string }).buildId);
  });

  afterAll(async () => {
    for (const r of replicas) {
      r.server.closeAllConnections();
      await new Promise<void>((resolve) => r.server.close(() => resolve()));
      await r.platform.stop();
    }
    await removeRedisKeys(REDIS_URL, prefix);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const page = (r: Replica, p: string, cookie: string) => fetch(`${r.base}${p}`, { redirect: 'manual', headers: { cookie, accept: 'text/html' } });
  const post = (r: Replica, p: string, cookie: string, fields: Record<string, string>) =>
    fetch(`${r.base}${p}`, {
      method: 'POST', redirect: 'manual',
      headers: { cookie, origin: r.base, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  const flashOf = (html: string) => html.match(/class="flash flash-(ok|error)"[^>]*>([^<]*)</)?.slice(1) ?? null;

  it('signed in on A, acts on B with its CSRF token; B\'s flash is shown by A\'s next page once; a sign-out on B ends it on A', async () => {
    const login = await fetch(`${a.base}/ui/login`, { method: 'POST', redirect: 'manual', headers: { origin: a.base, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ key: API_KEY }) });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;

    const onA = await page(a, '/ui/functions/hello/triggers', cookie);
    expect(onA.status).toBe(200);
    const csrf = (await onA.text()).match(/name="csrf-token" content="([^"]+)"/)![1]!;
    // The page B serves with the cookie A made: B knows the session (and its token).
    const onB = await page(b, '/ui/functions/hello/triggers', cookie);
    expect(onB.status).toBe(200);
    expect(await onB.text()).toContain(`content="${csrf}"`);

    // Without the token B refuses, as A would.
    expect((await post(b, '/ui/functions/hello/triggers/cron', cookie, { schedule: '0 3 * * *', timezone: 'UTC' })).status).toBe(403);
    const added = await post(b, '/ui/functions/hello/triggers/cron', cookie, { _csrf: csrf, schedule: '0 3 * * *', timezone: 'UTC' });
    expect(added.status).toBe(303);
    expect(added.headers.get('location')).toBe('/ui/functions/hello/triggers');

    const next = await (await page(a, '/ui/functions/hello/triggers', cookie)).text();
    expect(flashOf(next)?.[0]).toBe('ok');
    expect(next).toContain('0 3 * * *');
    expect(flashOf(await (await page(b, '/ui/functions/hello/triggers', cookie)).text())).toBeNull(); // shown once, on A
    expect(flashOf(await (await page(a, '/ui/functions/hello/triggers', cookie)).text())).toBeNull();

    const out = await post(b, '/ui/logout', cookie, { _csrf: csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/ui/login');
    const after = await page(a, '/ui/functions/hello/triggers', cookie);
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe(`/ui/login?next=${encodeURIComponent('/ui/functions/hello/triggers')}`);
    const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      expect(await admin.keys(`${prefix}session:*`)).toEqual([]);
    } finally {
      admin.disconnect();
    }
  });
});
