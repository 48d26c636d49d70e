// Function content and the dashboard on different origins (issue 15, item 1), through the real gateway
// (createApp + proxy) with an instance that answers what a hostile function would: the Host decides
// whether a request is the function's (its own origin, served as it answers) or the API's (/fn/NAME
// sandboxed, /ui and /v1 never reachable from a function host).

import http from 'node:http';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { Origins } from '../../gateway/dataplane/origins.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

/** What a hostile function answers: a page with a script, and every header that acts on an origin. */
const HOSTILE_HEADERS = {
  'content-type': 'text/html',
  'set-cookie': 'stratus_session=planted; Path=/ui/functions',
  'service-worker-allowed': '/',
  'clear-site-data': '"cookies", "storage"',
  'content-security-policy': "script-src 'unsafe-inline'",
};

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: string }

describe('function hosts and the API origin', () => {
  let h: Harness;
  let server: http.Server;
  let port: number;
  let seen: Array<{ url: string; host: string | undefined }>;

  const call = (host: string, path: string, headers: Record<string, string> = {}, method = 'GET') => new Promise<Answer>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { host, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });

  beforeEach(async () => {
    h = await startHarness();
    server = http.createServer(h.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    seen = [];
    h.instance.handle = (req, res) => {
      seen.push({ url: req.url!, host: req.headers.host });
      res.writeHead(200, HOSTILE_HEADERS);
      res.end('<script>fetch("/ui/functions")</script>');
    };
    for (const name of ['hello', 'other']) {
      const up = await request(h.app).post('/v1/functions').set(auth)
        .field('config', JSON.stringify({ name, runtime: 'node' }))
        .attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
      await h.builder.succeed(up.body.buildId);
    }
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await h.close();
  });

  it('a function host serves the function every path, /ui and /v1 included, with its own headers', async () => {
    for (const path of ['/', '/ui/functions', '/v1/functions', '/fn/other', '/healthz?x=1']) {
      const res = await call(`hello.fn.localhost:${port}`, path);
      expect(res.status, path).toBe(200);
      expect(res.body).toContain('<script>');
      expect(res.headers['set-cookie']).toEqual(['stratus_session=planted; Path=/ui/functions']); // its own origin: its own cookies
      expect(res.headers['content-security-policy']).toBe("script-src 'unsafe-inline'");
    }
    expect(seen.map((s) => s.url)).toEqual(['/', '/ui/functions', '/v1/functions', '/fn/other', '/healthz?x=1']);
  });

  it('a function host answers the API key with nothing of the API', async () => {
    const res = await call(`hello.fn.localhost:${port}`, '/v1/functions', auth);
    expect(res.body).not.toContain('"functions"');
    expect(seen).toHaveLength(1);
  });

  it('names are matched whatever the case, port or trailing dot; a qualifier comes first', async () => {
    expect((await call('HELLO.Fn.LocalHost.', '/a')).status).toBe(200);
    expect((await call(`v1.hello.fn.localhost:${port}`, '/b')).status).toBe(200);
    expect((await call(`latest.hello.fn.localhost:${port}`, '/c')).status).toBe(200);
    expect(seen.map((s) => s.url)).toEqual(['/a', '/b', '/c']);
  });

  it.each([
    ['the bare functions domain', 'fn.localhost', 404],
    ['an unknown function', 'nobody.fn.localhost', 404],
    ['a malformed name', 'he_llo.fn.localhost', 404],
    ['three labels', 'a.b.hello.fn.localhost', 404],
    ['an unknown alias', 'beta.hello.fn.localhost', 404],
  ])('%s is a problem, never the API', async (_what, host, status) => {
    const res = await call(host, '/v1/functions', auth);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    expect(res.body).not.toContain('"functions"');
    expect(seen).toHaveLength(0);
  });

  it('a host that only ends like the domain is the API origin', async () => {
    const res = await call(`evilfn.localhost:${port}`, '/v1/functions', auth);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).functions).toHaveLength(2);
  });

  it('/fn/NAME on the API origin is sandboxed: no script runs, nothing acts on the origin', async () => {
    const res = await call(`127.0.0.1:${port}`, '/fn/hello/page');
    expect(res.status).toBe(200);
    expect(res.body).toContain('<script>'); // the bytes are the function's: programs get them as they are
    // Both policies apply (a browser enforces every CSP header): the sandbox wins over any allowance.
    expect(res.headers['content-security-policy']!.split(', ').sort()).toEqual(['sandbox', "script-src 'unsafe-inline'"]);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers['service-worker-allowed']).toBeUndefined();
    expect(res.headers['clear-site-data']).toBeUndefined();
    expect(seen.map((s) => s.url)).toEqual(['/page']);
  });

  it('the sandbox holds with CORS settings too', async () => {
    await request(h.app).post('/v1/functions/hello/triggers').set(auth)
      .send({ type: 'http', cors: { allowOrigins: ['https://app.example.test'] } }).expect(201);
    const res = await call(`127.0.0.1:${port}`, '/fn/hello/x', { origin: 'https://app.example.test' });
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example.test');
    expect(res.headers['content-security-policy']).toContain('sandbox');
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('a service-worker script fetch on the API origin is refused before the function runs; on its own host it is the function\'s', async () => {
    const refused = await call(`127.0.0.1:${port}`, '/fn/hello/sw.js', { 'service-worker': 'script' });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).code).toBe('SERVICE_WORKER_REFUSED');
    expect(seen).toHaveLength(0);
    expect((await call(`hello.fn.localhost:${port}`, '/sw.js', { 'service-worker': 'script' })).status).toBe(200);
  });

  it('the dashboard is not served on a host function content can set cookies for', async () => {
    const page = await call(`localhost:${port}`, '/ui/login?next=%2Fui%2Ffunctions');
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe(`http://127.0.0.1:${port}/ui/login?next=%2Fui%2Ffunctions`);
    const post = await call(`localhost:${port}`, '/ui/login', { 'content-type': 'application/x-www-form-urlencoded' }, 'POST');
    expect(post.status).toBe(421);
    expect(JSON.parse(post.body).code).toBe('MISDIRECTED_REQUEST');
    expect((await call(`127.0.0.1:${port}`, '/ui/login')).status).toBe(200);
  });

  it('the API names both URLs of a function', async () => {
    const res = await call(`127.0.0.1:${port}`, '/v1/functions/hello', auth);
    const body = JSON.parse(res.body) as { url: string; apiUrl: string };
    expect(body.url).toBe(`http://hello.fn.localhost:${port}/`);
    expect(body.apiUrl).toBe(`http://127.0.0.1:${port}/fn/hello`);
  });
});

describe('Origins', () => {
  const origins = (env: Record<string, string> = {}) => new Origins(loadConfig({ STRATUS_STATE_DIR: '/tmp/x', ...env }));

  it('parses function hosts under a configured domain', () => {
    const o = origins({ STRATUS_FUNCTIONS_URL: 'https://fn.example-usercontent.test' });
    expect(o.functionHost('shop.fn.example-usercontent.test')).toEqual({ name: 'shop', qualifier: null });
    expect(o.functionHost('prod.shop.fn.example-usercontent.test:443')).toEqual({ name: 'shop', qualifier: 'prod' });
    expect(o.functionHost('shop.fn.localhost')).toBeNull();
    expect(o.functionHost('[::1]:8080')).toBeNull();
    expect(o.functionUrl('shop', 'stratus.example.test')).toBe('https://shop.fn.example-usercontent.test/');
  });

  it('knows which hosts share cookies with function hosts', () => {
    const o = origins();
    for (const host of ['localhost', 'localhost:8080', 'fn.localhost', 'LOCALHOST.']) expect(o.sharesCookiesWithFunctions(host), host).toBe(true);
    for (const host of ['127.0.0.1:8080', '[::1]:8080', 'stratus.example.test', 'notlocalhost']) expect(o.sharesCookiesWithFunctions(host), host).toBe(false);
  });

  it.each([
    ['an IP address', 'http://127.0.0.1:8080'],
    ['a single label', 'http://localhost'],
    ['a path', 'https://fn.example.test/functions'],
    ['credentials', 'https://u:p@fn.example.test'],
    ['another scheme', 'ftp://fn.example.test'],
  ])('STRATUS_FUNCTIONS_URL with %s is refused', (_what, url) => {
    expect(() => loadConfig({ STRATUS_FUNCTIONS_URL: url })).toThrow(/STRATUS_FUNCTIONS_URL/);
  });

  it.each([
    ['the same host', 'https://stratus.example.test', 'https://stratus.example.test'],
    ['a domain below it', 'https://stratus.example.test', 'https://fn.stratus.example.test'],
    ['a domain above it', 'https://api.fn.example.test', 'https://fn.example.test'],
  ])('STRATUS_FUNCTIONS_URL on %s as the public URL is refused', (_what, pub, fns) => {
    expect(() => loadConfig({ STRATUS_PUBLIC_URL: pub, STRATUS_FUNCTIONS_URL: fns })).toThrow(/share cookies/);
  });
});
