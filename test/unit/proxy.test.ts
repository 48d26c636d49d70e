import http from 'node:http';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StratusError } from '../../core/errors.js';
import type { DeployedVersion } from '../../core/types.js';
import type { Endpoint } from '../../scheduler/backends/backend.js';
import type { Lease } from '../../scheduler/scheduler.js';
import type { FakeScheduler } from '../support/fake-scheduler.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Gives the fake scheduler the synchronous warm path (Scheduler.tryAcquire), leasing exactly as its
 * acquire() does, so every test below runs once through each path the proxy takes.
 */
function addSyncWarmPath(fake: FakeScheduler): void {
  const endpoint = (fake as unknown as { endpoint: Endpoint }).endpoint;
  Object.assign(fake, {
    tryAcquire: (target: DeployedVersion): Lease | null => {
      if (fake.acquireError || fake.start !== 'warm') return null; // errors and cold starts go through acquire()
      fake.acquired.push({ target, opts: { deadline: 0 } });
      return {
        instance: { instanceId: 'i-1', role: 'function', runtime: 'node', function: target.function, version: target.version, endpoint, backendRef: 'fake', startedAt: 0 },
        agent: fake.agent,
        start: 'warm',
        requestOptions: endpoint.kind === 'unix' ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port },
        release: (outcome) => void fake.releases.push(outcome),
        diagnose: async () => fake.diagnosis,
      };
    },
  });
}

describe.each([
  { path: 'acquire (queued path)', sync: false },
  { path: 'tryAcquire (warm path)', sync: true },
])('data plane: function URLs /fn/NAME, lease by $path', ({ sync }) => {
  let h: Harness;
  let server: http.Server;
  let port: number;

  beforeEach(async () => {
    h = await startHarness({ STRATUS_ROLLBACK_WARM_MS: '300' });
    if (sync) addSyncWarmPath(h.scheduler);
    server = http.createServer(h.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await h.close();
  });

  const call = (path: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}) =>
    new Promise<Answer>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(opts.body);
    });

  const upload = (config: Record<string, unknown>) =>
    request(h.app)
      .post('/v1/functions')
      .set(auth)
      .field('config', JSON.stringify({ runtime: 'node', ...config }))
      .attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');

  const deploy = async (config: Record<string, unknown> = {}) => {
    const res = await upload({ name: 'hello', ...config });
    await h.builder.succeed(res.body.buildId);
    return res.body.buildId as string;
  };

  it('answers 404 FUNCTION_NOT_FOUND for an unknown function, with a request id', async () => {
    const res = await call('/fn/nobody/x');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    expect(JSON.parse(res.body).code).toBe('FUNCTION_NOT_FOUND');
    expect(res.headers['x-stratus-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers 503 while building, naming the build, and 503 with the build error after a failure', async () => {
    const res = await upload({ name: 'hello' });
    const buildId = res.body.buildId as string;
    const building = await call('/fn/hello');
    expect(building.status).toBe(503);
    const p1 = JSON.parse(building.body);
    expect(p1).toMatchObject({ code: 'FUNCTION_NOT_READY', buildId, build: `/v1/builds/${buildId}` });
    expect(p1.detail).toContain('still building');

    await h.builder.fail(buildId, 'index.mjs: SyntaxError: Unexpected token');
    const failed = await call('/fn/hello');
    expect(failed.status).toBe(503);
    const p2 = JSON.parse(failed.body);
    expect(p2.detail).toContain('failed');
    expect(p2.detail).toContain('SyntaxError: Unexpected token');
    expect(p2.detail).not.toBe(p1.detail);
  });

  it('passes method, path, query, headers and body through, and status, headers and body back', async () => {
    await deploy();
    let seen: { method?: string; url?: string; headers?: http.IncomingHttpHeaders; body?: string } = {};
    h.instance.handle = (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen = { method: req.method, url: req.url, headers: req.headers, body };
        res.writeHead(201, { 'content-type': 'application/json', 'x-fn': 'yes', 'set-cookie': ['a=1', 'b=2'] });
        res.end(JSON.stringify({ echoed: body }));
      });
    };
    const res = await call('/fn/hello/items/7?sort=asc&x=%20', {
      method: 'PUT',
      headers: { 'content-type': 'text/plain', 'x-custom': 'v', connection: 'keep-alive, x-hop', 'x-hop': 'drop me', 'proxy-authorization': 'secret' },
      body: 'payload',
    });
    expect(res.status).toBe(201);
    expect(res.headers['x-fn']).toBe('yes');
    // On the API's origin a function sets no cookie (gateway/dataplane/origins.ts); its own host passes them (origins.test.ts).
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(JSON.parse(res.body)).toEqual({ echoed: 'payload' });
    const requestId = res.headers['x-stratus-request-id'];
    expect(requestId).toBeTruthy();

    expect(seen.method).toBe('PUT');
    expect(seen.url).toBe('/items/7?sort=asc&x=%20');
    expect(seen.body).toBe('payload');
    expect(seen.headers!['x-custom']).toBe('v');
    expect(seen.headers!['x-hop']).toBeUndefined();
    expect(seen.headers!['proxy-authorization']).toBeUndefined();
    expect(seen.headers!['x-stratus-request-id']).toBe(requestId);
    expect(Number(seen.headers!['x-stratus-deadline-ms'])).toBeGreaterThan(0);
    expect(seen.headers!['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers!['x-forwarded-proto']).toBe('http');
    expect(seen.headers!['x-forwarded-host']).toBe(`127.0.0.1:${port}`);

    expect(h.scheduler.releases).toEqual(['ok']);
    expect(h.metrics.calls).toContainEqual({ metric: 'invocations', labels: { function: 'hello', status: '2xx' } });
  });

  it('keeps the gateway\'s own headers: a caller cannot set the deadline or request id, a function cannot change the id', async () => {
    await deploy();
    let seen: http.IncomingHttpHeaders = {};
    h.instance.handle = (req, res) => {
      seen = req.headers;
      res.writeHead(200, { 'x-stratus-request-id': 'forged', connection: 'x-private', 'x-private': 'hop', 'keep-alive': 'timeout=5', 'x-kept': 'yes' });
      res.end('ok');
    };
    const res = await call('/fn/hello', { headers: { 'x-stratus-deadline-ms': '1', 'x-stratus-request-id': 'mine', 'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https' } });
    expect(res.status).toBe(200);
    expect(Number(seen['x-stratus-deadline-ms'])).toBeGreaterThan(1);
    expect(seen['x-stratus-request-id']).toBe(res.headers['x-stratus-request-id']);
    expect(seen['x-stratus-request-id']).not.toBe('mine');
    expect(seen['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(res.headers['x-stratus-request-id']).not.toBe('forged');
    expect(res.headers['x-private']).toBeUndefined();
    expect(res.headers['x-kept']).toBe('yes');
  });

  it('cuts the response, never a short success, when the instance dies mid-body', async () => {
    await deploy();
    h.instance.handle = (req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setImmediate(() => req.socket.destroy());
    };
    await expect(call('/fn/hello')).rejects.toThrow();
    await vi.waitFor(() => expect(h.scheduler.releases).toEqual(['crashed']));
  });

  it('gives the function "/" when the URL has no path after the name', async () => {
    await deploy();
    let url = '';
    h.instance.handle = (req, res) => res.end((url = req.url ?? ''));
    await call('/fn/hello?q=1');
    expect(url).toBe('/?q=1');
    await call('/fn/hello');
    expect(url).toBe('/');
  });

  it('streams the request body in and the response body out without buffering', async () => {
    await deploy();
    // The instance answers the first request chunk before the request has ended, then echoes the rest.
    h.instance.handle = (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      req.on('data', (c: Buffer) => res.write(`got:${c.toString()};`));
      req.on('end', () => res.end('done'));
    };
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/fn/hello', method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          // Only once the first chunk came back through the gateway do we send the second:
          // a buffering proxy would never get here and the test would time out.
          if (text === 'got:one;') req.end('two');
        });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.write('one');
    });
    expect(body).toBe('got:one;got:two;done');
  }, 10_000);

  it('answers 504 FUNCTION_TIMEOUT at the deadline, and keeps the slot until the late answer ends ("timeout")', async () => {
    await deploy({ timeoutMs: 100 });
    let finish!: () => void;
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    h.instance.handle = (_req, res) => {
      finish = () => res.end('late');
      started();
    };
    const res = await call('/fn/hello');
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body).code).toBe('FUNCTION_TIMEOUT');
    expect(res.headers['x-stratus-request-id']).toBeTruthy();
    await running;
    // The handler still runs: its slot is not free yet.
    expect(h.scheduler.releases).toEqual([]);
    finish();
    await vi.waitFor(() => expect(h.scheduler.releases).toEqual(['timeout']));
  });

  it('cuts the response when the deadline passes after the headers went out, and frees the slot when the instance ends', async () => {
    await deploy({ timeoutMs: 100 });
    let finish!: () => void;
    h.instance.handle = (_req, res) => {
      res.writeHead(200).write('partial');
      finish = () => res.end('rest');
    };
    await expect(call('/fn/hello')).rejects.toThrow();
    expect(h.scheduler.releases).toEqual([]);
    finish();
    await vi.waitFor(() => expect(h.scheduler.releases).toEqual(['timeout']));
  });

  it('when the caller goes away, drains and discards the answer and frees the slot only when it ends', async () => {
    await deploy();
    let upstreamClosed = false;
    let finish!: () => void;
    let callerGone!: () => void;
    h.instance.handle = (req, res) => {
      res.writeHead(200).write('working');
      req.socket.on('close', () => (upstreamClosed = true));
      finish = () => res.end('x'.repeat(256 * 1024)); // more than any socket buffer: it must be read
    };
    const req = http.request({ host: '127.0.0.1', port, path: '/fn/hello' }, (res) => {
      res.once('data', () => {
        req.destroy();
        callerGone();
      });
    });
    req.on('error', () => {});
    req.end();
    await new Promise<void>((r) => (callerGone = r));
    await vi.waitFor(() => expect(h.metrics.calls).toContainEqual({ metric: 'invocations', labels: { function: 'hello', status: 'CLIENT_CLOSED' } }));
    expect(h.scheduler.releases).toEqual([]);
    expect(upstreamClosed).toBe(false);
    finish();
    await vi.waitFor(() => expect(h.scheduler.releases).toEqual(['ok']));
  });

  it('when the caller goes away before its body arrived whole, aborts the upstream request and frees the slot ("error")', async () => {
    await deploy();
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    let reached!: () => void;
    const upstreamReached = new Promise<void>((r) => (reached = r));
    h.instance.handle = (req) => {
      req.on('data', () => reached());
      req.socket.on('close', () => upstreamClosed());
    };
    const req = http.request({ host: '127.0.0.1', port, path: '/fn/hello', method: 'POST', headers: { 'content-length': '100' } });
    req.on('error', () => {});
    req.write('only part of it');
    await upstreamReached;
    req.destroy();
    await closed;
    await vi.waitFor(() => expect(h.scheduler.releases).toEqual(['error']));
  });

  it('answers 502 FUNCTION_CRASHED when the instance resets the connection', async () => {
    await deploy();
    h.instance.handle = (req) => req.socket.destroy();
    const res = await call('/fn/hello');
    expect(res.status).toBe(502);
    const problem = JSON.parse(res.body);
    expect(problem.code).toBe('FUNCTION_CRASHED');
    expect(problem.detail).toContain(`see GET /v1/functions/hello/logs?requestId=${res.headers['x-stratus-request-id']}`);
    expect(h.scheduler.releases).toEqual(['crashed']);
  });

  it('answers 502 FUNCTION_OUT_OF_MEMORY when diagnose says OOM', async () => {
    await deploy({ memoryMb: 128 });
    h.scheduler.diagnosis = { reason: 'oom', exitCode: 137 };
    h.instance.handle = (req) => req.socket.destroy();
    const res = await call('/fn/hello');
    expect(res.status).toBe(502);
    const problem = JSON.parse(res.body);
    expect(problem.code).toBe('FUNCTION_OUT_OF_MEMORY');
    const rid = res.headers['x-stratus-request-id'];
    expect(problem.detail).toBe(`function hello ran out of memory (limit 128 MB); raise memoryMb, and see GET /v1/functions/hello/logs?requestId=${rid}`);
    expect(h.scheduler.releases).toEqual(['crashed']);
  });

  it('turns a 429 from acquire into problem+json with Retry-After', async () => {
    await deploy();
    h.scheduler.acquireError = new StratusError('TOO_MANY_REQUESTS', 'function hello is at maxInstances and its queue is full; retry later', { retryAfterSeconds: 2 });
    const res = await call('/fn/hello');
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    expect(JSON.parse(res.body).code).toBe('TOO_MANY_REQUESTS');
    expect(res.headers['x-stratus-request-id']).toBeTruthy();
  });

  it('never sends the message of an internal error', async () => {
    await deploy();
    h.scheduler.acquireError = new Error('ECONNREFUSED /var/run/docker.sock');
    const res = await call('/fn/hello');
    expect(res.status).toBe(500);
    expect(res.body).not.toContain('docker.sock');
  });

  it('flips to a new version at once, and retires the old one after the rollback grace', async () => {
    await deploy();
    expect((await call('/fn/hello')).status).toBe(200);
    expect(h.scheduler.acquired.at(-1)!.target.version).toBe(1);
    const second = await upload({ name: 'hello', memoryMb: 512 });
    await h.builder.succeed(second.body.buildId);
    // No explicit refresh: the route table must learn of the new version through store.watchFunctions.
    await vi.waitFor(() => expect(h.app.routes.lookup('hello')?.version).toBe(2));
    expect((await call('/fn/hello')).status).toBe(200);
    expect(h.scheduler.acquired.at(-1)!.target).toMatchObject({ version: 2, config: { memoryMb: 512 } });
    // Kept for a rollback a while (STRATUS_ROLLBACK_WARM_MS), then retired.
    expect(h.scheduler.retired).toEqual([]);
    await vi.waitFor(() => expect(h.scheduler.retired).toContainEqual({ name: 'hello', keepVersion: 2 }));
    expect(h.scheduler.prewarmed.map((d) => d.version)).toEqual([1, 2]);
  });

  it('records a cold start\'s first byte', async () => {
    await deploy();
    h.scheduler.start = 'stem';
    await call('/fn/hello');
    expect(h.metrics.calls.some((c) => c.metric === 'coldStartPhaseSeconds' && c.labels.kind === 'stem' && c.labels.phase === 'first_byte')).toBe(true);
  });
});
