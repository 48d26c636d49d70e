// The one upstream call (scheduler/upstream/) in both its answer modes against the same hostile
// instances: streamed to a caller (the function URL's proxy) and buffered (the event invoker). Each way
// an instance can misbehave must end the same in both — the same error code and the same lease outcome,
// released exactly once — while each mode keeps its own wording. The instance is a real HTTP server on a
// unix socket that writes raw bytes; the lease comes from FakeScheduler, which records every release.

import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../core/log.js';
import { silentLogger } from '../../core/log.js';
import type { DeployedVersion } from '../../core/types.js';
import { proxyInvocation } from '../../gateway/dataplane/proxy.js';
import { callBuffered } from '../../scheduler/upstream/buffered-call.js';
import { FakeScheduler } from '../support/fake-scheduler.js';
import { RecordingMetrics } from '../support/gateway-harness.js';

const target = (timeoutMs: number): DeployedVersion => ({
  function: 'fn', version: 1, image: null, artifactDir: null,
  config: { name: 'fn', runtime: 'node', memoryMb: 128, timeoutMs, env: {}, concurrency: 1, minInstances: 0, maxInstances: 1, idleTtlMs: 60_000, network: 'egress' },
});

/** What the instance does with a call: each writes to the raw socket, as a broken runtime could. */
const HOSTILE: Array<{ name: string; act: (socket: import('node:net').Socket) => void; code: string; outcome: string; streamed: RegExp | 'cut'; buffered: RegExp }> = [
  {
    name: 'switches protocols (101 with Upgrade)',
    act: (s) => s.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n'),
    code: 'FUNCTION_BAD_RESPONSE', outcome: 'crashed',
    streamed: /invalid HTTP response \(status 101, a switch to another protocol\); its instance is replaced/, buffered: /^function fn sent an invalid HTTP response \(status 101, a switch to another protocol\)$/,
  },
  {
    name: 'answers a status outside 200-599',
    act: (s) => s.end('HTTP/1.1 999 Nope\r\ncontent-length: 0\r\n\r\n'),
    code: 'FUNCTION_BAD_RESPONSE', outcome: 'crashed',
    streamed: /invalid HTTP response \(status 999\)/, buffered: /^function fn sent an invalid HTTP response \(status 999\)$/,
  },
  {
    name: 'answers something that is not HTTP',
    act: (s) => s.end('hello there\r\n\r\n'),
    code: 'FUNCTION_BAD_RESPONSE', outcome: 'crashed',
    streamed: /invalid HTTP response \(.+\); its instance is replaced/, buffered: /^function fn sent an invalid HTTP response \(HPE_[A-Z_]+\)$/,
  },
  {
    name: 'breaks off its answer mid-body',
    act: (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc', () => s.destroy()),
    code: 'FUNCTION_CRASHED', outcome: 'crashed',
    streamed: 'cut', buffered: /^function fn broke off its answer$/,
  },
  {
    name: 'drops the connection before answering',
    act: (s) => s.destroy(),
    code: 'FUNCTION_CRASHED', outcome: 'crashed',
    streamed: /crashed before answering \(the connection to its instance was reset\)/, buffered: /^function fn crashed before answering$/,
  },
];

describe('the upstream call, streamed and buffered, against hostile instances', () => {
  let dir: string;
  let instance: http.Server;
  let act: (socket: import('node:net').Socket) => void;
  let scheduler: FakeScheduler;
  let caller: http.Server | null;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-upstream-'));
    const socketPath = path.join(dir, 'i.sock');
    instance = http.createServer((req) => req.on('end', () => act(req.socket)).resume());
    await new Promise<void>((r) => instance.listen(socketPath, r));
    scheduler = new FakeScheduler({ kind: 'unix', socketPath });
    caller = null;
  });

  afterEach(async () => {
    instance.closeAllConnections();
    await new Promise((r) => instance.close(r));
    if (caller) {
      caller.closeAllConnections();
      await new Promise((r) => caller!.close(r));
    }
    await scheduler.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** One call through the proxy, as a caller of a function URL sees it. */
  async function streamed(timeoutMs: number, graceMs: number, logger: Logger = silentLogger): Promise<{ status: number; code?: string; detail?: string; broken: boolean }> {
    caller = http.createServer((req, res) => proxyInvocation(req, res, {
      requestId: randomUUID(), target: target(timeoutMs), path: req.url ?? '/', deadline: Date.now() + timeoutMs, arrivedAt: performance.now(),
      scheduler, metrics: new RecordingMetrics(), logger, graceMs,
    }, timeoutMs));
    await new Promise<void>((r) => caller!.listen(0, '127.0.0.1', r));
    const { port } = caller.address() as { port: number };
    return new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('error', () => {}); // a cut answer; told by 'close' below
        res.on('close', () => {
          // A response cut mid-body: the caller sees it broken, never as a short whole one.
          if (!res.complete) return resolve({ status: res.statusCode!, broken: true });
          const problem = res.headers['content-type'] === 'application/problem+json' ? (JSON.parse(body) as { code: string; detail: string }) : null;
          resolve({ status: res.statusCode!, ...(problem ? { code: problem.code, detail: problem.detail } : {}), broken: false });
        });
      }).on('error', reject);
    });
  }

  const buffered = (timeoutMs: number, graceMs: number, logger: Logger = silentLogger) => scheduler.acquire(target(timeoutMs), { deadline: Date.now() + timeoutMs }).then((lease) => callBuffered(
    lease, { method: 'POST', path: '/', headers: { 'content-length': '2' }, body: Buffer.from('{}') },
    { target: target(timeoutMs), requestId: 'inv-1', timeoutMs, graceMs, maxBytes: 1000, logger },
  ));

  for (const h of HOSTILE) {
    it(`an instance that ${h.name}: ${h.code} and a '${h.outcome}' lease, once, in both modes`, async () => {
      act = h.act;
      const s = await streamed(5_000, 5_000);
      // Once the head went out the answer can only be cut, not replaced by a 502.
      if (h.streamed === 'cut') expect(s).toEqual({ status: 200, broken: true });
      else expect(s).toMatchObject({ status: 502, code: h.code, detail: expect.stringMatching(h.streamed), broken: false });
      await new Promise((r) => setTimeout(r, 50)); // nothing more is released after the answer
      expect(scheduler.releases).toEqual([h.outcome]);

      scheduler.releases.length = 0;
      const b = await buffered(5_000, 5_000);
      expect(b).toMatchObject({ outcome: 'failed', statusCode: 502, error: h.code, message: expect.stringMatching(h.buffered) });
      await new Promise((r) => setTimeout(r, 50));
      expect(scheduler.releases).toEqual([h.outcome]);
    });
  }

  it('a handler that never ends: 504 at the deadline, then its instance is recycled after the grace and logged, in both modes', async () => {
    act = () => {}; // holds the call forever
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (msg: string) => void warnings.push(msg) };
    const s = await streamed(100, 150, logger);
    expect(s).toMatchObject({ status: 504, code: 'FUNCTION_TIMEOUT' });
    expect(scheduler.releases).toEqual([]); // the handler still runs: its slot stays taken
    await expect.poll(() => scheduler.releases, { timeout: 2_000 }).toEqual(['hung']);

    scheduler.releases.length = 0;
    const b = await buffered(100, 150, logger);
    expect(b).toMatchObject({ outcome: 'failed', statusCode: 504, error: 'FUNCTION_TIMEOUT', message: 'function fn did not answer within its timeout of 100 ms' });
    expect(scheduler.releases).toEqual([]);
    await expect.poll(() => scheduler.releases, { timeout: 2_000 }).toEqual(['hung']);
    expect(warnings.filter((w) => w.includes('recycling'))).toEqual([
      'function fn: a handler still ran 150 ms after its timeout; recycling its instance',
      'function fn: a handler still ran 150 ms after its timeout; recycling its instance',
    ]);
  });
});
