// The function URL obeys its http trigger (gateway/dataplane/http-policy.ts), over the gateway harness with a real
// HTTP server in front (raw headers seen as sent): invoke-key auth with hostile keys, the key stripped before
// the function, revocation effective at once, methods (405 + Allow), CORS preflights answered by the gateway
// and CORS headers on answers replacing the function's own. The harness's instance records what it saw.

import http from 'node:http';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { RouteTable } from '../../gateway/dataplane/route-table.js';
import { API_KEY, auth, startHarness, type Harness } from '../support/gateway-harness.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  raw: string[];
  body: string;
}

const APP = 'https://app.example.com';

describe('function URL under its http trigger', () => {
  let h: Harness;
  let server: http.Server;
  let port: number;
  /** What the instance received, per call. */
  let seen: Array<{ method: string; raw: string[] }>;
  /** The instance's extra answer headers (set per test). */
  let answerWith: Record<string, string>;

  beforeEach(async () => {
    h = await startHarness();
    seen = [];
    answerWith = {};
    h.instance.handle = (req, res) => {
      seen.push({ method: req.method!, raw: req.rawHeaders });
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', ...answerWith });
      res.end('from the function');
    };
    server = http.createServer(h.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    for (const name of ['hello', 'other']) {
      const up = await request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name, runtime: 'node' })).attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
      await h.builder.succeed(up.body.buildId);
    }
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await h.close();
  });

  const call = (path: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders | string[] } = {}) =>
    new Promise<Answer>((resolve, reject) => {
      // A raw header list (to send a name twice, or in its own case) gets no Host from Node: add it.
      const headers = Array.isArray(opts.headers) ? ['host', `127.0.0.1:${port}`, ...opts.headers] : opts.headers;
      const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, raw: res.rawHeaders, body }));
      });
      req.on('error', reject);
      req.end();
    });
  const trigger = async (fn: string, body: Record<string, unknown>) => {
    await request(h.app).delete(`/v1/functions/${fn}/triggers/http`).set(auth);
    const res = await request(h.app).post(`/v1/functions/${fn}/triggers`).set(auth).send({ type: 'http', ...body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  };
  const newKey = async (fn: string) => (await request(h.app).post(`/v1/functions/${fn}/keys`).set(auth).send({})).body as { id: string; key: string };
  const names = (raw: string[]) => raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  const problem = (a: Answer, status: number, code: string) => {
    expect(a.status, a.body).toBe(status);
    expect(a.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = JSON.parse(a.body) as { code: string; detail: string };
    expect(body.code).toBe(code);
    return body;
  };
  const corsNames = (a: Answer) => names(a.raw).filter((n) => n.startsWith('access-control-'));

  it('without an http trigger: public, any method, OPTIONS reaches the function, and a stray x-stratus-key is stripped', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) expect((await call('/fn/hello', { method })).status).toBe(200);
    const preflight = await call('/fn/hello', { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'PUT' } });
    expect(preflight.body).toBe('from the function');
    await call('/fn/hello', { headers: { 'x-stratus-key': 'stk_something' } });
    expect(seen).toHaveLength(5);
    expect(names(seen.at(-1)!.raw)).not.toContain('x-stratus-key');
  });

  describe('auth "key"', () => {
    let key: string;
    beforeEach(async () => {
      await trigger('hello', { auth: 'key' });
      key = (await newKey('hello')).key;
    });

    it('answers with a valid key, and the function never sees it, whatever the header name\'s case', async () => {
      expect((await call('/fn/hello', { headers: { 'x-stratus-key': key } })).status).toBe(200);
      expect((await call('/fn/hello', { headers: ['X-STRATUS-KEY', key] })).status).toBe(200);
      expect(seen).toHaveLength(2);
      for (const s of seen) {
        expect(names(s.raw)).not.toContain('x-stratus-key');
        expect(s.raw.join('\n')).not.toContain(key);
      }
    });

    it('refuses 401 with a challenge naming the header, and the function is not called, for every wrong key', async () => {
      const otherKey = (await newKey('other')).key;
      const cases: Array<[string, string[]]> = [
        ['no key', []],
        ['an empty key', ['x-stratus-key', '']],
        ['a wrong key', ['x-stratus-key', `${key.slice(0, -1)}x`]],
        ['two headers, both the valid key', ['x-stratus-key', key, 'x-stratus-key', key]],
        ['a key of another function', ['x-stratus-key', otherKey]],
        ['the admin API key as invoke key', ['x-stratus-key', API_KEY]],
        ['the admin API key as bearer', ['authorization', `Bearer ${API_KEY}`]],
        ['a huge key', ['x-stratus-key', `${key}${'a'.repeat(12_000)}`]],
      ];
      for (const [what, headers] of cases) {
        const res = await call('/fn/hello', { headers });
        const body = problem(res, 401, 'UNAUTHORIZED');
        expect(body.detail, what).toContain('x-stratus-key');
        expect(res.headers['www-authenticate'], what).toBe('StratusKey realm="function URL", header="x-stratus-key"');
        expect(res.body, what).not.toContain(key);
      }
      expect(JSON.parse((await call('/fn/hello', { headers: ['x-stratus-key', key, 'x-stratus-key', key] })).body).detail).toContain('exactly one');
      expect(seen).toHaveLength(0);
    });

    it('refuses the async intake without a key too, and queues with one', async () => {
      problem(await call('/fn/hello', { method: 'POST', headers: { 'x-stratus-invocation-type': 'async' } }), 401, 'UNAUTHORIZED');
      expect((await call('/fn/hello', { method: 'POST', headers: { 'x-stratus-invocation-type': 'async', 'x-stratus-key': key } })).status).toBe(202);
    });

    it('a revoked key is refused as soon as the DELETE is answered; a new one works at once; another replica follows the change notice', async () => {
      const replica = new RouteTable(h.store, silentLogger, systemClock);
      try {
        await replica.resolveRoute('hello');
        expect(replica.route('hello')!.policy.keyHashes!.size).toBe(1);
        const listed = (await request(h.app).get('/v1/functions/hello/keys').set(auth)).body.keys as Array<{ id: string }>;
        expect((await request(h.app).delete(`/v1/functions/hello/keys/${listed[0]!.id}`).set(auth)).status).toBe(204);
        problem(await call('/fn/hello', { headers: { 'x-stratus-key': key } }), 401, 'UNAUTHORIZED');
        await vi.waitFor(() => expect(replica.route('hello')!.policy.keyHashes!.size).toBe(0));
        const fresh = (await newKey('hello')).key;
        expect((await call('/fn/hello', { headers: { 'x-stratus-key': fresh } })).status).toBe(200);
        // Deleting the trigger makes the URL public again, at once.
        await request(h.app).delete('/v1/functions/hello/triggers/http').set(auth);
        expect((await call('/fn/hello')).status).toBe(200);
      } finally {
        await replica.close();
      }
    });
  });

  it('methods: another method is 405 with Allow and never reaches the function; auth is checked first', async () => {
    await trigger('hello', { methods: ['get', 'POST'] });
    expect((await call('/fn/hello')).status).toBe(200);
    const put = await call('/fn/hello', { method: 'PUT' });
    expect(problem(put, 405, 'METHOD_NOT_ALLOWED').detail).toContain('GET, POST');
    expect(put.headers.allow).toBe('GET, POST');
    problem(await call('/fn/hello', { method: 'OPTIONS' }), 405, 'METHOD_NOT_ALLOWED');
    expect(seen.map((s) => s.method)).toEqual(['GET']);
    await trigger('hello', { auth: 'key', methods: ['GET'] });
    problem(await call('/fn/hello', { method: 'PUT' }), 401, 'UNAUTHORIZED');
  });

  describe('CORS', () => {
    const cors = { allowOrigins: [APP, 'http://localhost:5173'], allowMethods: ['GET', 'PUT'], allowHeaders: ['Content-Type', 'X-Trace'], exposeHeaders: ['x-total'], maxAgeSeconds: 300, allowCredentials: true };
    const preflight = (origin: string, method: string, headers?: string) =>
      call('/fn/hello', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) } });

    it('answers an allowed preflight itself (204, no key needed), never calling the function', async () => {
      await trigger('hello', { auth: 'key', cors });
      const res = await preflight(APP, 'PUT', 'content-type, x-trace, x-stratus-key');
      expect(res.status).toBe(204);
      expect(res.headers).toMatchObject({
        'access-control-allow-origin': APP,
        'access-control-allow-methods': 'GET, PUT',
        'access-control-allow-headers': 'content-type, x-trace, x-stratus-key',
        'access-control-max-age': '300',
        'access-control-allow-credentials': 'true',
        vary: 'Origin',
      });
      expect(seen).toHaveLength(0);
    });

    it('answers "*" for any origin without credentials, and echoes the asked headers for allowHeaders "*"', async () => {
      await trigger('hello', { cors: { allowOrigins: ['*'], allowHeaders: ['*'] } });
      const res = await preflight('https://anyone.example', 'DELETE', 'X-Whatever, Content-Type');
      expect(res.status).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.headers['access-control-allow-headers']).toBe('x-whatever, content-type');
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      const get = await call('/fn/hello');
      expect(get.headers['access-control-allow-origin']).toBe('*');
      expect(get.headers.vary).toBeUndefined();
    });

    it('refuses a preflight from another origin, for another method or header: 403 without any CORS header', async () => {
      await trigger('hello', { cors });
      const cases: Array<[Promise<Answer>, string]> = [
        [preflight('https://evil.example', 'GET'), 'origin'],
        [preflight(`${APP}.evil.example`, 'GET'), 'origin'],
        [preflight(APP, 'DELETE'), 'method'],
        [preflight(APP, 'PUT', 'content-type, x-secret'), 'x-secret'],
      ];
      for (const [answer, why] of cases) {
        const res = await answer;
        expect(problem(res, 403, 'CORS_PREFLIGHT_REFUSED').detail).toContain(why);
        expect(corsNames(res)).toEqual([]);
        expect(res.headers.vary).toBe('Origin');
      }
      expect(seen).toHaveLength(0);
    });

    it('adds the CORS headers to the function\'s answer for an allowed origin, replacing its own, keeping its Vary', async () => {
      await trigger('hello', { cors });
      answerWith = { 'Access-Control-Allow-Origin': '*', 'access-control-allow-credentials': 'false', 'x-total': '3', vary: 'Accept-Encoding' };
      const res = await call('/fn/hello', { headers: { origin: APP } });
      expect(res.status).toBe(200);
      expect(corsNames(res).sort()).toEqual(['access-control-allow-credentials', 'access-control-allow-origin', 'access-control-expose-headers']);
      expect(res.headers).toMatchObject({ 'access-control-allow-origin': APP, 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-total', 'x-total': '3' });
      expect(res.headers.vary).toBe('Origin, Accept-Encoding');

      // Another origin, or none: no CORS header at all (the function's "*" included), but Vary: Origin for caches.
      for (const headers of [{ origin: 'https://evil.example' }, {}]) {
        const other = await call('/fn/hello', { headers });
        expect(corsNames(other)).toEqual([]);
        expect(other.headers.vary).toContain('Origin');
      }
    });

    it('keeps the CORS headers on the gateway\'s own refusals, so a page can read them', async () => {
      await trigger('hello', { auth: 'key', methods: ['GET'], cors });
      const res = await call('/fn/hello', { headers: { origin: APP } });
      problem(res, 401, 'UNAUTHORIZED');
      expect(res.headers['access-control-allow-origin']).toBe(APP);
    });

    it('without cors settings, a preflight goes to the function as before', async () => {
      await trigger('hello', { methods: ['GET', 'OPTIONS'] });
      expect((await preflight(APP, 'GET')).body).toBe('from the function');
      expect(seen).toHaveLength(1);
    });
  });
});
