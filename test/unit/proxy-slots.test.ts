// A slot stays busy while its handler runs (issue 7, finding 6): the real proxy over the real
// PoolScheduler, whose instances (FakeBackend) are HTTP servers on unix sockets that hold every call
// until the test lets them answer. With concurrency 1, a second call must queue — not reach the
// instance — while the first one's handler still runs, whether the first call timed out or its caller
// left; and an instance whose handler never finishes is recycled after the grace.

import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { proxyInvocation } from '../../gateway/dataplane/proxy.js';
import { RecordingMetrics } from '../support/gateway-harness.js';
import { harness, version, type Harness } from './scheduler-harness.js';

const TARGET = version('slots', 1, { concurrency: 1, maxInstances: 1, timeoutMs: 10_000 });

let h: Harness;
let server: http.Server;
let port: number;

/** The gateway's data plane for TARGET, each call with the timeout its x-timeout-ms header asks for. */
async function start(graceMs: number): Promise<void> {
  h = harness();
  server = http.createServer((req, res) => {
    const timeoutMs = Number(req.headers['x-timeout-ms'] ?? 10_000);
    proxyInvocation(req, res, {
      requestId: randomUUID(), target: TARGET, path: req.url ?? '/', deadline: h.clock.now() + timeoutMs, arrivedAt: performance.now(),
      scheduler: h.scheduler, metrics: new RecordingMetrics(), logger: silentLogger, graceMs,
    }, timeoutMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
}

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await h.cleanup();
});

function call(path: string, timeoutMs: number): { done: Promise<{ status: number; body: string }>; req: http.ClientRequest } {
  let req!: http.ClientRequest;
  const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req = http.request({ host: '127.0.0.1', port, path, headers: { 'x-timeout-ms': String(timeoutMs) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
  return { done, req };
}

const instance = () => h.backend.byRole('function')[0];
const queued = () => /stratus_queue_depth\{function="slots"\} 1\b/.test(h.registry.render());

describe('slot accounting through the proxy (concurrency 1)', () => {
  it('keeps the slot of a call answered 504 busy until its handler finishes; the next call waits for it', async () => {
    await start(60_000);
    const open = h.backend.holdRequests();
    const first = await call('/first', 200).done;
    expect(first.status).toBe(504);
    expect(instance()!.active).toBe(1); // its handler still runs

    const second = call('/second', 20_000);
    await vi.waitFor(() => expect(queued()).toBe(true));
    expect(instance()!.active).toBe(1); // the second call did not reach the instance

    open(); // the first handler finishes; its answer is drained, and only then is the slot free
    expect(await second.done).toMatchObject({ status: 200 });
    expect(JSON.parse((await second.done).body)).toMatchObject({ path: '/second' });
    expect(h.backend.stops).toEqual([]); // it finished within the grace: trusted, not recycled
  });

  it('keeps the slot of a call whose caller left busy until the handler finishes; its answer is drained', async () => {
    await start(60_000);
    const open = h.backend.holdRequests();
    const first = call('/first', 20_000);
    first.done.catch(() => {});
    await vi.waitFor(() => expect(instance()?.active).toBe(1));
    first.req.destroy(); // the caller goes away while the handler runs

    const second = call('/second', 20_000);
    await vi.waitFor(() => expect(queued()).toBe(true));
    expect(instance()!.active).toBe(1);

    open();
    expect(JSON.parse((await second.done).body)).toMatchObject({ path: '/second' });
    expect(h.backend.stops).toEqual([]);
  });

  it('recycles an instance whose handler does not finish within the grace after its timeout', async () => {
    await start(300);
    const open = h.backend.holdRequests();
    expect((await call('/stuck', 200).done).status).toBe(504);
    const stuck = instance()!.handle.instanceId;
    await vi.waitFor(() => expect(h.backend.stops).toContain(stuck), { timeout: 10_000 });
    open();
    // A fresh instance serves the next call.
    const next = await call('/next', 20_000).done;
    expect(next.status).toBe(200);
    expect(JSON.parse(next.body).instance).not.toBe(stuck);
  });
});
