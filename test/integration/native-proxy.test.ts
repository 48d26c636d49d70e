// The native data plane's foundation against a real HAProxy (issue 20): the config of
// gateway/native/haproxy-config.ts, programmed at run time by gateway/native/haproxy-runtime.ts, its per-call
// lines read by gateway/native/call-lines.ts. Instances and the activator are tiny HTTP servers on unix
// sockets that say who answered; which one does is HAProxy's decision alone.

import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, problemType } from '../../core/errors.js';
import { ACTIVATOR_BACKEND, FUNCTIONS_FRONTEND, slotName } from '../../gateway/native/haproxy-config.js';
import { HaproxyArgumentError, HaproxyCommandError, HaproxyRuntime, HaproxyUnreachableError } from '../../gateway/native/haproxy-runtime.js';
import { call, haproxyMissing, startNativeProxy, type NativeProxy } from '../support/native-proxy.js';
import { until } from '../support/until.js';

const SLOTS = 4;
let proxy: NativeProxy | undefined;

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

async function start(): Promise<NativeProxy> {
  proxy = await startNativeProxy({ slots: SLOTS });
  return proxy;
}

describe.skipIf(await haproxyMissing())('the native data plane (a real HAProxy)', () => {
  it('routes a mapped function by path and by host to its slot\'s instance, everything else to the activator', async () => {
    const p = await start();
    const i1 = await p.instance('i1');
    await p.runtime.addServer(slotName(2), 'i1', { socketPath: i1.socketPath, maxconn: 8 });
    // Not mapped yet: the activator, with the path untouched.
    expect((await call(p.port, '/fn/hello/x')).body).toMatchObject({ who: 'activator', path: '/fn/hello/x' });

    await p.runtime.setMapEntry(p.routes, 'hello', slotName(2));
    expect((await call(p.port, '/fn/hello/x?q=1')).body).toMatchObject({ who: 'i1', path: '/x?q=1' });
    expect((await call(p.port, '/fn/hello')).body).toMatchObject({ who: 'i1', path: '/' });
    // The function's own host: every path is the function's, /fn/… included.
    expect((await call(p.port, '/fn/other/y', 'hello.fn.localhost:8080')).body).toMatchObject({ who: 'i1', path: '/fn/other/y' });
    // Another function, another domain, a name that is only a prefix: the activator.
    expect((await call(p.port, '/fn/hello2/')).body.who).toBe('activator');
    expect((await call(p.port, '/', 'hello.fn.example.org')).body.who).toBe('activator');
    expect((await call(p.port, '/fn/hell/')).body.who).toBe('activator');
    // A host with more labels before the domain is not hello's host (the gateway refuses it; it decides).
    expect((await call(p.port, '/', 'hello.x.fn.localhost')).body.who).toBe('activator');
    expect((await call(p.port, '/', 'hello.fn.localhost.evil.example')).body.who).toBe('activator');

    // Moved to another slot (a new version): the next call follows the map, no reload.
    const i2 = await p.instance('i2');
    await p.runtime.addServer(slotName(0), 'i2', { socketPath: i2.socketPath, maxconn: 8 });
    await p.runtime.setMapEntry(p.routes, 'hello', slotName(0));
    expect((await call(p.port, '/fn/hello/')).body.who).toBe('i2');
    expect(await p.runtime.showMap(p.routes)).toEqual(new Map([['hello', slotName(0)]]));
    await p.runtime.deleteMapEntry(p.routes, 'hello');
    await p.runtime.deleteMapEntry(p.routes, 'hello'); // gone already: not an error
    expect((await call(p.port, '/fn/hello/')).body.who).toBe('activator');
  });

  it('adds, drains and removes instances at run time without a reload', async () => {
    const p = await start();
    const pid = p.haproxy.pid;
    const [i1, i2] = [await p.instance('i1'), await p.instance('i2')];
    const slot = slotName(1);
    await p.runtime.setMapEntry(p.routes, 'fn-a', slot);
    await p.runtime.addServer(slot, 'i1', { socketPath: i1.socketPath, maxconn: 4 });
    await p.runtime.addServer(slot, 'i2', { socketPath: i2.socketPath, maxconn: 4 });
    const who = new Set<string>();
    for (let i = 0; i < 10; i++) who.add((await call(p.port, '/fn/fn-a/')).body.who);
    expect(who).toEqual(new Set(['i1', 'i2']));
    expect((await p.runtime.showServersState(slot)).map((s) => [s.server, s.adminState])).toEqual([['i1', 0], ['i2', 0]]);

    // A call under way on i1 (i2 out for a moment, so that the call lands on i1): drain i1, and its
    // removal is refused while the call runs — never cut.
    await p.runtime.setServerState(slot, 'i2', 'maint');
    const open = i1.hold();
    const underWay = call(p.port, '/fn/fn-a/');
    await until('a held call on i1', () => (i1.active === 1 ? true : undefined));
    await p.runtime.setServerState(slot, 'i2', 'ready');
    await p.runtime.setServerState(slot, 'i1', 'drain');
    await expect(p.runtime.deleteServer(slot, 'i1')).rejects.toBeInstanceOf(HaproxyCommandError);
    expect((await call(p.port, '/fn/fn-a/')).body.who).toBe('i2'); // draining: no new call for i1
    open();
    expect((await underWay).body.who).toBe('i1');
    // Its call ended: now it goes (the kept idle connection too), and every call is i2's.
    await until('i1 deleted once idle', () => p.runtime.deleteServer(slot, 'i1').then(() => true, () => undefined), 5000, 100);
    for (let i = 0; i < 5; i++) expect((await call(p.port, '/fn/fn-a/')).body.who).toBe('i2');
    expect((await p.runtime.showServersState(slot)).map((s) => s.server)).toEqual(['i2']);
    expect(p.haproxy.pid).toBe(pid);
    expect(p.haproxy.exitCode).toBeNull();
  });

  it('sends a call past maxconn to the activator at once, and a slot without a ready server too', async () => {
    const p = await start();
    const i1 = await p.instance('i1');
    const slot = slotName(3);
    await p.runtime.setMapEntry(p.routes, 'busy', slot);
    // Mapped, but no server yet: the activator (which would start one).
    expect((await call(p.port, '/fn/busy/')).body.who).toBe('activator');

    await p.runtime.addServer(slot, 'i1', { socketPath: i1.socketPath, maxconn: 2 });
    const open = i1.hold();
    const first = [call(p.port, '/fn/busy/1'), call(p.port, '/fn/busy/2')];
    await until('two calls held on i1', () => (i1.active === 2 ? true : undefined));
    // i1 is full: three more calls are answered by the activator while i1 still holds its two.
    const more = await Promise.all([call(p.port, '/fn/busy/3'), call(p.port, '/fn/busy/4'), call(p.port, '/fn/busy/5')]);
    expect(more.map((a) => a.body.who)).toEqual(['activator', 'activator', 'activator']);
    expect(i1.active).toBe(2);
    open();
    expect((await Promise.all(first)).map((a) => a.body.who)).toEqual(['i1', 'i1']);
    expect(i1.peak).toBe(2);

    // In maintenance or draining, the only server takes no new call: the activator does.
    await p.runtime.setServerState(slot, 'i1', 'maint');
    expect((await call(p.port, '/fn/busy/')).body.who).toBe('activator');
    await p.runtime.setServerState(slot, 'i1', 'drain');
    expect((await call(p.port, '/fn/busy/')).body.who).toBe('activator');
    await p.runtime.setServerState(slot, 'i1', 'ready');
    expect((await call(p.port, '/fn/busy/')).body.who).toBe('i1');
  });

  it('gives every call HAProxy\'s request id, passed to the instance and logged in exactly one parsed line', async () => {
    const p = await start();
    const i1 = await p.instance('i1');
    await p.runtime.setMapEntry(p.routes, 'counted', slotName(0));
    await p.runtime.addServer(slotName(0), 'i1', { socketPath: i1.socketPath, maxconn: 16 });
    const before = await p.runtime.requestsReceived(FUNCTIONS_FRONTEND);
    expect(before).toBe(0);

    const native = await Promise.all(Array.from({ length: 40 }, (_, i) => call(p.port, `/fn/counted/${i}`)));
    const activated = await Promise.all(Array.from({ length: 10 }, () => call(p.port, '/fn/unknown/')));
    const ids = native.map((a) => a.body.requestId);
    // A caller's own id never reaches the instance; each call has its own.
    expect(new Set(ids).size).toBe(40);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const served = await p.runtime.requestsReceived(FUNCTIONS_FRONTEND);
    expect(served).toBe(50);
    await until('a line for every call', () => (p.lines.length >= served ? true : undefined), 5000);
    expect(p.reader.dropped(served)).toBe(0);
    expect(p.reader.malformed).toBe(0);
    expect(p.lines).toHaveLength(50);

    const byId = new Map(p.lines.map((l) => [l.requestId, l]));
    // 40 calls at once against maxconn 16: each line names the backend that really answered it.
    for (const a of native) {
      const servedBy = a.body.who === 'i1' ? { backend: slotName(0), server: 'i1' } : { backend: ACTIVATOR_BACKEND, server: ACTIVATOR_BACKEND };
      expect(byId.get(a.body.requestId!)).toMatchObject({ function: 'counted', ...servedBy, status: 200, termination: '----' });
      expect(byId.get(a.body.requestId!)!.bytesOut).toBeGreaterThan(0);
    }
    expect(native.filter((a) => a.body.who === 'i1').length).toBeGreaterThanOrEqual(16);
    for (const a of activated) {
      expect(a.body.requestId).toMatch(/^[0-9a-f-]{36}$/); // the activator gets HAProxy's id too
      expect(byId.get(a.body.requestId!)).toMatchObject({ function: null, backend: ACTIVATOR_BACKEND, status: 200 });
    }
  });

  it('counts the lines lost while nobody reads them against HAProxy\'s own count of calls', async () => {
    const p = await start();
    for (let i = 0; i < 5; i++) await call(p.port, '/fn/anything/');
    await until('5 lines', () => (p.lines.length === 5 ? true : undefined), 5000);
    // The reader gone (a restart, a crash): HAProxy still serves, and its lines go nowhere.
    await p.reader.close();
    for (let i = 0; i < 3; i++) expect((await call(p.port, '/fn/anything/')).status).toBe(200);
    const calls = await p.runtime.requestsReceived(FUNCTIONS_FRONTEND);
    expect(calls).toBe(8);
    expect(p.reader.dropped(calls)).toBe(3);
  });

  it('answers the runtime API\'s refusals as typed errors and refuses arguments that would split a command', async () => {
    const p = await start();
    const err = await p.runtime.setServerState(slotName(0), 'nope', 'ready').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HaproxyCommandError);
    expect((err as HaproxyCommandError).reply).toMatch(/No such server/);
    await expect(p.runtime.addServer('no-such-backend', 'i1', { socketPath: '/tmp/x.sock', maxconn: 1 })).rejects.toBeInstanceOf(HaproxyCommandError);
    await expect(p.runtime.addServer(slotName(0), 'i1', { socketPath: '/tmp/x.sock', maxconn: 0 })).rejects.toBeInstanceOf(HaproxyArgumentError);
    await expect(p.runtime.setMapEntry(p.routes, 'a b', slotName(0))).rejects.toBeInstanceOf(HaproxyArgumentError);
    await expect(p.runtime.setMapEntry(p.routes, 'a;shutdown', slotName(0))).rejects.toBeInstanceOf(HaproxyArgumentError);
    await expect(new HaproxyRuntime(`${p.dir}/nothing-here.sock`).showInfo()).rejects.toBeInstanceOf(HaproxyUnreachableError);
    expect(p.haproxy.exitCode).toBeNull();
  });

  it('answers a call past the function\'s timeout from the timeouts map 504 as problem+json, with the deadline it was given', async () => {
    const p = await start();
    const i1 = await p.instance('i1');
    await p.runtime.setMapEntry(p.routes, 'slow', slotName(1));
    await p.runtime.setMapEntry(p.timeouts, slotName(1), '300');
    await p.runtime.addServer(slotName(1), 'i1', { socketPath: i1.socketPath, maxconn: 4 });
    // Within its timeout: the deadline the instance got is now + 300 ms (the caller's own value is gone).
    const sentAt = Date.now();
    const ok = await call(p.port, '/fn/slow/', '127.0.0.1', { 'x-stratus-deadline-ms': '1' });
    expect(ok.status).toBe(200);
    const deadline = Number(ok.body.headers?.['x-stratus-deadline-ms']);
    expect(deadline).toBeGreaterThanOrEqual(sentAt + 300);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 300);

    i1.answer = { delayMs: 1500 };
    const t0 = Date.now();
    const late = await call(p.port, '/fn/slow/');
    const took = Date.now() - t0;
    expect(late.status).toBe(504);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1400);
    expect(late.headers['content-type']).toBe('application/problem+json');
    expect(late.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(late.body).toEqual({
      type: problemType('FUNCTION_TIMEOUT'), title: ERROR_CATALOGUE.FUNCTION_TIMEOUT.title, status: 504, code: 'FUNCTION_TIMEOUT',
      detail: `function slow did not answer within its timeout of 300 ms; make it faster or raise timeoutMs, and see GET /v1/functions/slow/logs?requestId=${late.requestId}`,
      function: 'slow', timeoutMs: 300, logs: `/v1/functions/slow/logs?requestId=${late.requestId}`,
    });
  });

  it('answers an instance\'s garbage 502 as problem+json, and replaces the instance\'s own request id', async () => {
    const p = await start();
    const i1 = await p.instance('i1');
    await p.runtime.setMapEntry(p.routes, 'bad', slotName(0));
    await p.runtime.addServer(slotName(0), 'i1', { socketPath: i1.socketPath, maxconn: 4 });
    i1.answer = { headers: { 'x-stratus-request-id': 'the-instance-s-own' } };
    const ok = await call(p.port, '/fn/bad/');
    expect(ok.requestId).toBe(ok.body.requestId);
    expect(ok.requestId).not.toBe('the-instance-s-own');

    i1.answer = { raw: 'this is not HTTP\r\n\r\n' };
    const bad = await call(p.port, '/fn/bad/');
    expect(bad.status).toBe(502);
    expect(bad.headers['content-type']).toBe('application/problem+json');
    expect(bad.body).toMatchObject({ type: problemType('FUNCTION_BAD_RESPONSE'), title: ERROR_CATALOGUE.FUNCTION_BAD_RESPONSE.title, status: 502, code: 'FUNCTION_BAD_RESPONSE', function: 'bad' });
    expect(bad.body.detail).toContain(`requestId=${bad.requestId}`);

    // What HAProxy would pass on and Node's parser refuses: a status outside 100-599, a control byte in a header.
    for (const raw of ['HTTP/1.1 600 X\r\ncontent-length: 0\r\n\r\n', 'HTTP/1.1 000 X\r\ncontent-length: 0\r\n\r\n', 'HTTP/1.1 200 OK\r\nx-evil: a\u0001b\r\ncontent-length: 0\r\n\r\n']) {
      i1.answer = { raw };
      const refused = await call(p.port, '/fn/bad/');
      expect(refused.status, raw).toBe(502);
      expect(refused.body).toMatchObject({ code: 'FUNCTION_BAD_RESPONSE', function: 'bad' });
      expect(refused.headers['x-evil']).toBeUndefined();
    }
  });

  it('sandboxes answers on /fn/NAME as the API\'s origin does, and not on the function\'s own host', async () => {
    const p = await start();
    const i1 = await p.instance('i1');
    await p.runtime.setMapEntry(p.routes, 'page', slotName(0));
    await p.runtime.addServer(slotName(0), 'i1', { socketPath: i1.socketPath, maxconn: 4 });
    i1.answer = { headers: { 'set-cookie': 'session=planted; Path=/', 'service-worker-allowed': '/', 'clear-site-data': '"cookies"' } };

    const byPath = await call(p.port, '/fn/page/');
    expect(byPath.body.who).toBe('i1');
    expect(byPath.headers).toMatchObject({ 'content-security-policy': 'sandbox', 'x-content-type-options': 'nosniff' });
    for (const h of ['set-cookie', 'service-worker-allowed', 'clear-site-data']) expect(byPath.headers[h]).toBeUndefined();

    const byHost = await call(p.port, '/', 'page.fn.localhost');
    expect(byHost.body.who).toBe('i1');
    expect(byHost.headers['content-security-policy']).toBeUndefined();
    expect(byHost.headers['x-content-type-options']).toBeUndefined();
    expect(byHost.headers['set-cookie']).toEqual(['session=planted; Path=/']);
    expect(byHost.headers['service-worker-allowed']).toBe('/');
  });

  it('leaves async calls, a service worker\'s fetch on /fn/NAME and /fn/ without a name to the activator', async () => {
    const p = await start();
    const i1 = await p.instance('i1');
    await p.runtime.setMapEntry(p.routes, 'hello', slotName(0));
    await p.runtime.addServer(slotName(0), 'i1', { socketPath: i1.socketPath, maxconn: 4 });
    expect((await call(p.port, '/fn/hello/')).body.who).toBe('i1');
    expect((await call(p.port, '/fn/hello/', '127.0.0.1', { 'x-stratus-invocation-type': 'async' })).body.who).toBe('activator');
    expect((await call(p.port, '/', 'hello.fn.localhost', { 'x-stratus-invocation-type': 'async' })).body.who).toBe('activator');
    expect((await call(p.port, '/fn/hello/sw.js', '127.0.0.1', { 'service-worker': 'script' })).body.who).toBe('activator');
    // On the function's own host a service worker is the function's business.
    expect((await call(p.port, '/sw.js', 'hello.fn.localhost', { 'service-worker': 'script' })).body.who).toBe('i1');
    expect((await call(p.port, '/fn/')).body.who).toBe('activator');
    expect((await call(p.port, '/fn')).body.who).toBe('activator');
    // Not routed natively: the line says so.
    await until('7 lines', () => (p.lines.length === 7 ? true : undefined), 5000);
    expect(p.lines.filter((l) => l.function === 'hello').map((l) => l.backend)).toEqual([slotName(0), slotName(0)]);
  });

  it('sends the instance the platform\'s headers, never the caller\'s, and the activator the caller\'s address', async () => {
    const p = await start();
    const i1 = await p.instance('i1');
    await p.runtime.setMapEntry(p.routes, 'hdrs', slotName(0));
    await p.runtime.addServer(slotName(0), 'i1', { socketPath: i1.socketPath, maxconn: 4 });
    const forged = {
      'x-stratus-key': 'sk_the-callers-key', 'x-stratus-deadline-ms': '1', 'x-stratus-client-address': '203.0.113.9',
      'x-stratus-request-id': 'mine', 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example',
    };
    const got = (await call(p.port, '/fn/hdrs/', '127.0.0.1:8080', forged)).body.headers!;
    expect(got['x-stratus-key']).toBeUndefined();
    expect(got['x-stratus-client-address']).toBeUndefined();
    expect(Number(got['x-stratus-deadline-ms'])).toBeGreaterThan(Date.now());
    expect(got['x-stratus-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    // The caller's chain, then the address HAProxy saw (one more header: Node joins them with ", ").
    expect(got['x-forwarded-for']).toBe('198.51.100.7, 127.0.0.1');
    expect(got['x-forwarded-proto']).toBe('http');
    expect(got['x-forwarded-host']).toBe('127.0.0.1:8080');

    const activated = (await call(p.port, '/fn/unknown/', '127.0.0.1', forged)).body;
    expect(activated.who).toBe('activator');
    expect(activated.headers!['x-stratus-client-address']).toBe('127.0.0.1');
    expect(activated.headers!['x-forwarded-proto']).toBe('http');
  });

  it('counts a datagram without the line token as forged and passes only HAProxy\'s lines on', async () => {
    const p = await start();
    await call(p.port, '/fn/anything/');
    await until('1 line', () => (p.lines.length === 1 ? true : undefined), 5000);
    const fake = (token: string) => `${token}00000000-0000-4000-8000-000000000000 hello slot0 i1 200 1 1 10 10 ----`;
    const sock = dgram.createSocket('udp4');
    const send = (text: string) => new Promise<void>((resolve, reject) => sock.send(text, p.reader.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    try {
      await send(fake('')); // no token: the line as it was before tokens
      await send(fake(`${'0'.repeat(p.lineToken.length)} `)); // a wrong token of the right length
      await send(fake(`${p.lineToken.slice(0, -1)} `)); // the token but one digit
      await send(`${p.lineToken} not a call line`); // HAProxy's, but not a call: malformed, not forged
      await until('4 datagrams counted', () => (p.reader.forged + p.reader.malformed === 4 ? true : undefined), 5000);
    } finally {
      sock.close();
    }
    expect(p.reader.forged).toBe(3);
    expect(p.reader.malformed).toBe(1);
    await call(p.port, '/fn/anything/');
    await until('2 lines', () => (p.lines.length === 2 ? true : undefined), 5000);
    expect(p.lines.map((l) => l.function)).toEqual([null, null]);
    expect(p.reader.received).toBe(2);
  });
});
