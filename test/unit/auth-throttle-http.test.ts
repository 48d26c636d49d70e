// The wrong-key throttle over real HTTP: a gateway on a real listener, its clients on distinct loopback
// addresses (the client socket bound with localAddress: 127.0.0.2, 127.0.0.3, …, all loopback on Linux).
// A stranger's wrong keys never stop the right key from elsewhere; a throttled client gets 429 with
// Retry-After, the right key included; /v1's Bearer check is throttled the same way and counts toward the
// same client's sign-in; X-Forwarded-For is believed only from a trusted proxy.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startHarness, type Harness } from '../support/gateway-harness.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function listen(h: Harness): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(h.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function send(port: number, from: string, method: string, path: string, headers: Record<string, string>, body = ''): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, localAddress: from, method, path, agent: false, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const signIn = (port: number, from: string, key: string) =>
  send(port, from, 'POST', '/ui/login', { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}`, 'content-type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ key }).toString());
const api = (port: number, from: string, key: string | null, extra: Record<string, string> = {}) =>
  send(port, from, 'GET', '/v1/functions', { host: `127.0.0.1:${port}`, ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...extra });

function expectThrottled(a: Answer, code: string): void {
  expect(a.status).toBe(429);
  expect(a.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(JSON.parse(a.body)).toMatchObject({ status: 429, code });
  const retry = Number(a.headers['retry-after']);
  expect(retry).toBeGreaterThan(0);
  expect(retry).toBeLessThanOrEqual(60);
}

describe('the wrong-key throttle over HTTP', () => {
  let h: Harness;
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    h = await startHarness();
    ({ server, port } = await listen(h));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await h.close();
  });

  it('150 wrong sign-ins from one address do not stop the right key from another', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 150; i++) statuses.push((await signIn(port, '127.0.0.2', `wrong-${i}`)).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(new Set(statuses.slice(10))).toEqual(new Set([429]));
    const right = await signIn(port, '127.0.0.3', API_KEY);
    expect(right.status).toBe(303);
    expect(right.headers.location).toBe('/ui/functions');
    expect(String(right.headers['set-cookie'])).toMatch(/^stratus_session=[A-Za-z0-9_-]{20,}/);
    // Another stranger's wrong key is told it is wrong, not throttled by the first one's.
    expect((await signIn(port, '127.0.0.4', 'wrong')).status).toBe(401);
    // And /v1 from elsewhere is untouched.
    expect((await api(port, '127.0.0.3', API_KEY)).status).toBe(200);
  });

  it('a throttled client gets 429 with Retry-After, even for the right key, and no session', async () => {
    const html = await signIn(port, '127.0.0.2', API_KEY);
    expect(html.status).toBe(429);
    expect(Number(html.headers['retry-after'])).toBeGreaterThan(0);
    expect(html.headers['set-cookie']).toBeUndefined();
    const problem = await send(port, '127.0.0.2', 'POST', '/ui/login', { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}`, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, `key=${API_KEY}`);
    expectThrottled(problem, 'SIGN_IN_THROTTLED');
    // The same client's Bearer key waits too: one count for both doors that take the admin key.
    expectThrottled(await api(port, '127.0.0.2', API_KEY), 'TOO_MANY_REQUESTS');
  });

  it('throttles failed /v1 Bearer keys per client, and counts them toward that client\'s sign-in', async () => {
    for (let i = 0; i < 10; i++) {
      const wrong = await api(port, '127.0.0.5', `wrong-${i}`);
      expect(wrong.status).toBe(401);
      expect(JSON.parse(wrong.body).code).toBe('UNAUTHORIZED');
    }
    expectThrottled(await api(port, '127.0.0.5', 'wrong-again'), 'TOO_MANY_REQUESTS');
    expectThrottled(await api(port, '127.0.0.5', API_KEY), 'TOO_MANY_REQUESTS');
    const metrics = await send(port, '127.0.0.5', 'GET', '/metrics', { host: `127.0.0.1:${port}`, authorization: `Bearer ${API_KEY}` });
    expectThrottled(metrics, 'TOO_MANY_REQUESTS');
    expect((await signIn(port, '127.0.0.5', API_KEY)).status).toBe(429);
    // Another client with the right key is served.
    expect((await api(port, '127.0.0.6', API_KEY)).status).toBe(200);
  });

  it('does not count a call without any key (no guess), and ignores X-Forwarded-For from a client', async () => {
    for (let i = 0; i < 30; i++) expect((await api(port, '127.0.0.7', null)).status).toBe(401);
    expect((await api(port, '127.0.0.7', API_KEY)).status).toBe(200);
    // A throttled client naming another address in the header is still itself.
    expectThrottled(await api(port, '127.0.0.5', API_KEY, { 'x-forwarded-for': '203.0.113.50' }), 'TOO_MANY_REQUESTS');
  });
});

describe('the wrong-key throttle behind a trusted proxy, and its window', () => {
  let h: Harness;
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    h = await startHarness({ STRATUS_TRUSTED_PROXIES: '127.0.0.9', STRATUS_AUTH_MAX_FAILURES: '3', STRATUS_AUTH_WINDOW_MS: '1500' });
    ({ server, port } = await listen(h));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await h.close();
  });

  it('counts the clients a trusted proxy names, not the proxy; an untrusted peer\'s header is ignored', async () => {
    const via = (client: string, key: string) => api(port, '127.0.0.9', key, { 'x-forwarded-for': client });
    for (let i = 0; i < 3; i++) expect((await via('203.0.113.1', 'wrong')).status).toBe(401);
    expectThrottled(await via('203.0.113.1', API_KEY), 'TOO_MANY_REQUESTS');
    // The next client through the same proxy is not the first one.
    expect((await via('203.0.113.2', API_KEY)).status).toBe(200);
    // An IPv6 client is counted by its /64: another address in it is the same client.
    for (let i = 0; i < 3; i++) expect((await via(`2001:db8:7:7::${i + 1}`, 'wrong')).status).toBe(401);
    expectThrottled(await via('2001:db8:7:7:abcd::1', API_KEY), 'TOO_MANY_REQUESTS');
    expect((await via('2001:db8:7:8::1', API_KEY)).status).toBe(200);
    // A peer that is not the trusted proxy cannot borrow a locked-out client's name, nor escape its own.
    expect((await api(port, '127.0.0.10', API_KEY, { 'x-forwarded-for': '203.0.113.1' })).status).toBe(200);
    for (let i = 0; i < 3; i++) await api(port, '127.0.0.11', 'wrong', { 'x-forwarded-for': `198.51.100.${i}` });
    expectThrottled(await api(port, '127.0.0.11', API_KEY, { 'x-forwarded-for': '198.51.100.99' }), 'TOO_MANY_REQUESTS');
  });

  it('serves the client again once its window has passed', async () => {
    for (let i = 0; i < 3; i++) await api(port, '127.0.0.12', 'wrong');
    expectThrottled(await api(port, '127.0.0.12', API_KEY), 'TOO_MANY_REQUESTS');
    await new Promise((r) => setTimeout(r, 1600));
    expect((await api(port, '127.0.0.12', API_KEY)).status).toBe(200);
  });
});
