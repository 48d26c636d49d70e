// The console's triggers, keys and traffic actions over a real listener (the gateway harness: MemoryStore,
// fake builder and scheduler), as a browser sends them: forms with the session cookie and CSRF token. A
// refused form comes back as the page with the API's message and what was typed; the invoke key is in the
// answer to its POST only (no redirect, no-store, never on a later page); the http trigger is replaced in
// one step keeping the other triggers' ids; a canary is set, promoted and rolled back; names are escaped;
// every action refuses another origin and a missing token.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, auth, startHarness, type Harness } from '../support/gateway-harness.js';

describe('console actions: triggers, keys, traffic', () => {
  let h: Harness;
  let server: http.Server;
  let base: string;
  let cookie = '';
  let csrf = '';

  const form = (path: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}) => {
    const body = new URLSearchParams({ _csrf: csrf });
    for (const [k, v] of Object.entries(fields)) for (const x of [v].flat()) body.append(k, x);
    return fetch(`${base}${path}`, {
      method: 'POST', redirect: 'manual',
      headers: { cookie, origin: base, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: body.toString(),
    });
  };
  const get = (path: string) => fetch(`${base}${path}`, { headers: { cookie, accept: 'text/html' } });
  const flash = async () => (await (await get('/ui/functions/hello/triggers')).text()).match(/class="flash flash-(ok|error)"[^>]*>([^<]*)</)?.slice(1);

  beforeAll(async () => {
    h = await startHarness();
    for (let i = 0; i < 2; i++) {
      const up = await request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name: 'hello', runtime: 'node' })).attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
      await h.builder.succeed(up.body.buildId);
    }
    server = http.createServer(h.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const login = await fetch(`${base}/ui/login`, { method: 'POST', redirect: 'manual', headers: { origin: base, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ key: API_KEY }) });
    cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    csrf = (await (await get('/ui/functions/hello/triggers')).text()).match(/name="csrf-token" content="([^"]+)"/)![1]!;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => server?.close(() => r()));
    await h?.close();
  });

  it('previews a schedule\'s next fires (page and JSON) and keeps a refused schedule in the form with the API\'s message', async () => {
    const page = await form('/ui/functions/hello/triggers/cron-preview', { schedule: '*/10 * * * * *', timezone: 'UTC' });
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text.match(/<li><time datetime="[^"]+:[0-5]0\.000Z">/g)).toHaveLength(5);
    const json = await form('/ui/functions/hello/triggers/cron-preview', { schedule: '0 9 * * 1', timezone: 'Europe/Paris' }, { accept: 'application/json' });
    expect(((await json.json()) as { next: string[] }).next).toHaveLength(5);

    const bad = await form('/ui/functions/hello/triggers/cron', { schedule: '61 * * * * "x"<', timezone: 'UTC' });
    expect(bad.status).toBe(400);
    const badText = await bad.text();
    expect(badText).toContain('body.schedule: is not a valid cron expression');
    expect(badText).toContain('value="61 * * * * &quot;x&quot;&lt;"');
    const badPreview = await form('/ui/functions/hello/triggers/cron-preview', { schedule: '* * * * *', timezone: 'Mars/Olympus' }, { accept: 'application/json' });
    expect(badPreview.status).toBe(400);
    expect(((await badPreview.json()) as { code: string; field: string })).toMatchObject({ code: 'INVALID_TRIGGER', field: 'body.timezone' });
    expect((await request(h.app).get('/v1/functions/hello/triggers').set(auth)).body.triggers).toEqual([]);
  });

  it('adds cron and storage triggers, shown escaped, and replaces the http trigger keeping the others', async () => {
    const cron = await form('/ui/functions/hello/triggers/cron', { schedule: '0 3 * * *', timezone: 'Europe/Paris', payload: '{"job":"nightly"}', overlap: 'skip' });
    expect(cron.status).toBe(303);
    expect(cron.headers.get('location')).toBe('/ui/functions/hello/triggers');
    const storage = await form('/ui/functions/hello/triggers/storage', { bucket: 'uploads', events: ['ObjectCreated:Put', 'ObjectRemoved:*'], prefix: '<img src=x onerror=alert(1)>/', suffix: '' });
    expect(storage.status).toBe(303);
    const list = () => request(h.app).get('/v1/functions/hello/triggers').set(auth).then((r) => r.body.triggers as Array<Record<string, unknown>>);
    const [c, s] = await list();
    expect(c).toMatchObject({ type: 'cron', schedule: '0 3 * * *', timezone: 'Europe/Paris', payload: { job: 'nightly' } });
    expect(s).toMatchObject({ type: 'storage', bucket: 'uploads', events: ['ObjectCreated:Put', 'ObjectRemoved:*'], filter: { prefix: '<img src=x onerror=alert(1)>/' } });
    const page = await (await get('/ui/functions/hello/triggers')).text();
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;/');
    expect(page).not.toContain('<img src=x');

    expect((await form('/ui/functions/hello/triggers/http', { auth: 'key', methods: ['GET', 'POST'], allowOrigins: 'https://app.example.com', allowHeaders: 'x-a, x-b' })).status).toBe(303);
    expect((await form('/ui/functions/hello/triggers/http', { auth: 'key', methods: ['POST'] })).status).toBe(303);
    const after = await list();
    expect(after.map((t) => t.id)).toEqual([c!.id, s!.id, 'http']);
    expect(after[2]).toMatchObject({ auth: 'key', methods: ['POST'] });
    expect(after[2]!.cors).toBeUndefined();
    const refused = await form('/ui/functions/hello/triggers/http', { auth: 'key', allowOrigins: '*', allowCredentials: 'on' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('allowCredentials cannot be combined with the origin');
    expect((await list())[2]).toMatchObject({ auth: 'key', methods: ['POST'] }); // unchanged

    expect((await form(`/ui/functions/hello/triggers/${String(c!.id)}/delete`, {})).status).toBe(303);
    expect((await list()).map((t) => t.id)).toEqual([s!.id, 'http']);
    expect((await form('/ui/functions/hello/triggers/nope/delete', {})).status).toBe(303);
    expect((await flash())?.[0]).toBe('error');
  });

  it('shows an invoke key once: in the answer to its POST only, never cached, never on a later page', async () => {
    const res = await form('/ui/functions/hello/keys', { name: 'ci <bot>' });
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('cache-control')).toBe('no-store');
    const text = await res.text();
    const key = text.match(/id="new-invoke-key" class="secret">(stk_[A-Za-z0-9_-]{43})</)![1]!;
    expect(text).toContain('ci &lt;bot&gt;');
    const later = await (await get('/ui/functions/hello/triggers')).text();
    expect(later).not.toContain(key);
    expect(later).toContain(key.slice(0, 10));
    const keys = (await request(h.app).get('/v1/functions/hello/keys').set(auth)).body.keys as Array<{ id: string; name: string }>;
    expect(keys).toEqual([expect.objectContaining({ name: 'ci <bot>', prefix: key.slice(0, 10) })]);
    expect((await form('/ui/functions/hello/keys', { name: 'x'.repeat(101) })).status).toBe(400);

    expect((await form(`/ui/functions/hello/keys/${keys[0]!.id}/revoke`, {})).status).toBe(303);
    expect((await request(h.app).get('/v1/functions/hello/keys').set(auth)).body.keys).toEqual([]);
  });

  it('sets a 20 % canary, promotes it and rolls back, each through the release service', async () => {
    const aliases = async () => (await request(h.app).get('/v1/functions/hello/aliases').set(auth)).body.aliases as Record<string, unknown>;
    const canary = await form('/ui/functions/hello/traffic/canary', { alias: 'latest', stable: '1', canary: '2', weight: '20' });
    expect(canary.status).toBe(303);
    expect(canary.headers.get('location')).toBe('/ui/functions/hello/traffic');
    expect(await aliases()).toEqual({ latest: [{ version: 1, weight: 80 }, { version: 2, weight: 20 }] });
    const page = await (await get('/ui/functions/hello/traffic')).text();
    expect(page).toMatch(/data-state="done" data-alias="latest"/);
    expect(page).toContain('v1 80 %');

    expect((await form('/ui/functions/hello/traffic/rollback', { alias: 'latest' })).status).toBe(303);
    expect(await aliases()).toEqual({ latest: [{ version: 1, weight: 100 }] });
    const fn = (await request(h.app).get('/v1/functions/hello').set(auth)).body as { rollout: { cause: string } };
    expect(fn.rollout.cause).toBe('rollback');

    await form('/ui/functions/hello/traffic/canary', { alias: 'latest', stable: '1', canary: '2', weight: '50' });
    expect((await form('/ui/functions/hello/traffic/promote', { alias: 'latest' })).status).toBe(303);
    expect(await aliases()).toEqual({ latest: [{ version: 2, weight: 100 }] });

    expect((await form('/ui/functions/hello/traffic/move', { alias: 'prod', version: '1' })).status).toBe(303);
    expect((await aliases()).prod).toEqual([{ version: 1, weight: 100 }]);
    for (const [path, fields, message] of [
      ['canary', { alias: 'latest', stable: '1', canary: '1', weight: '20' }, 'the two versions must differ'],
      ['canary', { alias: 'latest', stable: '1', canary: '2', weight: '100' }, 'whole percent from 1 to 99'],
      ['promote', { alias: 'prod' }, 'no canary to promote'],
      ['move', { alias: 'v3', version: '1' }, 'not shaped like a version'],
      ['move', { alias: 'prod', version: '9' }, 'has no version 9'],
    ] as const) {
      const res = await form(`/ui/functions/hello/traffic/${path}`, fields);
      expect(res.status, path).toBe(303);
      const text = await (await get('/ui/functions/hello/traffic')).text();
      expect(text, `${path} ${JSON.stringify(fields)}`).toContain(message);
    }
  });

  it('lets a slow rollout run on and the page\'s live stream follow it from warming to done', async () => {
    // Instances of the target versions take their time: the action answers before the move is done.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const acquire = h.scheduler.acquire.bind(h.scheduler);
    h.scheduler.acquire = async (target, opts) => {
      await gate;
      return acquire(target, opts);
    };
    try {
      const started = Date.now();
      const res = await form('/ui/functions/hello/traffic/canary', { alias: 'latest', stable: '2', canary: '1', weight: '30' });
      expect(res.status).toBe(303);
      expect(Date.now() - started).toBeLessThan(5000);
      const page = await (await get('/ui/functions/hello/traffic')).text();
      expect(page).toContain('is moving to v2 70 %, v1 30 %: waiting for a ready instance, this page follows it');
      expect(page).toMatch(/data-state="warming" data-alias="latest"/);

      const live = new AbortController();
      const stream = await fetch(`${base}/ui/live?view=traffic&name=hello`, { headers: { cookie, accept: 'text/event-stream' }, signal: live.signal });
      const reader = stream.body!.getReader();
      let seen = '';
      const read = async (until: string) => {
        while (!seen.includes(until)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`stream ended before ${until}`);
          seen += new TextDecoder().decode(value);
        }
      };
      await read('data-state=\\"warming\\"');
      open();
      await read('data-state=\\"done\\"');
      live.abort();
      expect((await request(h.app).get('/v1/functions/hello/aliases').set(auth)).body.aliases.latest).toEqual([{ version: 2, weight: 70 }, { version: 1, weight: 30 }]);
    } finally {
      open();
      h.scheduler.acquire = acquire;
    }
  });

  it('refuses every new action from another origin or without the CSRF token', async () => {
    const actions = ['triggers/cron-preview', 'triggers/cron', 'triggers/storage', 'triggers/http', 'triggers/http/delete', 'keys', 'keys/x/revoke', 'traffic/canary', 'traffic/promote', 'traffic/rollback', 'traffic/move'];
    const before = JSON.stringify((await request(h.app).get('/v1/functions/hello/triggers').set(auth)).body);
    for (const a of actions) {
      const forged = await form(`/ui/functions/hello/${a}`, { schedule: '* * * * *', bucket: 'b-b-b', auth: 'public', alias: 'latest', version: '1' }, { origin: 'http://evil.example' });
      expect(forged.status, a).toBe(403);
      expect(await forged.text(), a).toContain('CSRF_REFUSED');
      const noToken = await fetch(`${base}/ui/functions/hello/${a}`, { method: 'POST', headers: { cookie, origin: base, 'content-type': 'application/x-www-form-urlencoded' }, body: 'schedule=*+*+*+*+*' });
      expect(noToken.status, a).toBe(403);
      const noCookie = await fetch(`${base}/ui/functions/hello/${a}`, { method: 'POST', headers: { origin: base, 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${csrf}` });
      expect(noCookie.status, a).toBe(401);
    }
    expect(JSON.stringify((await request(h.app).get('/v1/functions/hello/triggers').set(auth)).body)).toBe(before);
    expect((await request(h.app).get('/v1/functions/hello/keys').set(auth)).body.keys).toEqual([]);
  });
});
