// The Invoker against a real HTTP server posing as a hostile instance (through FakeScheduler's leases):
// the CloudEvent it sends, how each kind of answer ends the attempt, the bounded result, and that the
// lease is held until the instance is done with the call — past the deadline too.

import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import type { InvocationRecord } from '../../core/store/invocations.js';
import type { DeployedVersion } from '../../core/types.js';
import { Invoker } from '../../control/invocations/invoker.js';
import { FakeScheduler } from '../support/fake-scheduler.js';

const target = (timeoutMs = 2000): DeployedVersion => ({
  function: 'fn', version: 3, image: null, artifactDir: null,
  config: { name: 'fn', runtime: 'node', memoryMb: 128, timeoutMs, env: {}, concurrency: 1, minInstances: 0, maxInstances: 1, idleTtlMs: 60_000, network: 'egress' },
});

describe('Invoker', () => {
  let dir: string;
  let server: http.Server;
  let handle: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;
  let scheduler: FakeScheduler;
  let records: InvocationRecord[];
  let invoker: Invoker;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-invoker-'));
    const socketPath = path.join(dir, 's.sock');
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => handle(req, res, body));
    });
    await new Promise<void>((r) => server.listen(socketPath, r));
    scheduler = new FakeScheduler({ kind: 'unix', socketPath });
    records = [];
    invoker = new Invoker({ scheduler, clock: systemClock, records: { record: (r) => records.push(r) }, logger: silentLogger, maxResultBytes: 1000, graceMs: 300 });
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await scheduler.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const event = { id: 'inv-1', type: 'dev.stratus.invocation.async', source: '/functions/fn', data: { n: 1 } };

  it('sends a binary-mode CloudEvent with the invocation id as request id, and keeps the answer', async () => {
    let seen: { headers: http.IncomingHttpHeaders; body: string; method?: string } | undefined;
    handle = (req, res, body) => {
      seen = { headers: req.headers, body, method: req.method };
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"ok":true}');
    };
    const r = await invoker.invoke(target(), event, { trigger: 'async', attempt: 2 });
    expect(seen!.method).toBe('POST');
    expect(seen!.headers).toMatchObject({ 'ce-id': 'inv-1', 'ce-type': 'dev.stratus.invocation.async', 'ce-source': '/functions/fn', 'ce-specversion': '1.0', 'content-type': 'application/json', 'x-stratus-request-id': 'inv-1' });
    expect(Number.isNaN(Date.parse(String(seen!.headers['ce-time'])))).toBe(false);
    expect(JSON.parse(seen!.body)).toEqual({ n: 1 });
    expect(r).toMatchObject({ outcome: 'succeeded', statusCode: 201, body: '{"ok":true}', truncated: false, contentType: 'application/json' });
    expect(scheduler.releases).toEqual(['ok']);
    expect(records).toEqual([expect.objectContaining({ id: 'inv-1', function: 'fn', version: 3, trigger: 'async', statusCode: 201, outcome: 'succeeded', memoryMb: 128, attempt: 2 })]);
    expect(records[0]!.billedMs).toBe(Math.max(1, Math.ceil(records[0]!.durationMs)));
  });

  it('fails the attempt on a 5xx, keeping the slot use normal', async () => {
    handle = (_req, res) => res.writeHead(503).end('down');
    const r = await invoker.invoke(target(), event, { trigger: 'async' });
    expect(r).toMatchObject({ outcome: 'failed', statusCode: 503, error: 'FUNCTION_ERROR' });
    expect(scheduler.releases).toEqual(['ok']);
  });

  it('cuts a long answer at the bound, reading the rest before the slot is freed', async () => {
    handle = (_req, res) => res.writeHead(200).end('x'.repeat(50_000));
    const r = await invoker.invoke(target(), event, { trigger: 'async' });
    expect(r).toMatchObject({ outcome: 'succeeded', truncated: true });
    expect(r.body).toHaveLength(1000);
    expect(scheduler.releases).toEqual(['ok']);
  });

  it('a status outside 200-599 is a bad response and recycles the instance', async () => {
    handle = (req) => req.socket.end('HTTP/1.1 999 Nope\r\ncontent-length: 0\r\n\r\n');
    const r = await invoker.invoke(target(), event, { trigger: 'async' });
    expect(r).toMatchObject({ outcome: 'failed', error: 'FUNCTION_BAD_RESPONSE', statusCode: 502 });
    expect(scheduler.releases).toEqual(['crashed']);
  });

  it('a broken connection is a crash, with the diagnosis when there is one', async () => {
    scheduler.diagnosis = { reason: 'oom', exitCode: 137 };
    handle = (req) => req.socket.destroy();
    const r = await invoker.invoke(target(), event, { trigger: 'async' });
    expect(r).toMatchObject({ outcome: 'failed', error: 'FUNCTION_OUT_OF_MEMORY', statusCode: 502 });
    expect(scheduler.releases).toEqual(['crashed']);
  });

  it('past the deadline the attempt fails at once, but the slot stays taken until the handler ends or its grace runs out', async () => {
    let finish: () => void = () => {};
    handle = (_req, res) => (finish = () => res.end('late'));
    // A long grace here, so that the handler surely ends within it.
    const patient = new Invoker({ scheduler, clock: systemClock, records: { record: () => {} }, logger: silentLogger, graceMs: 60_000 });
    const r = await patient.invoke(target(150), event, { trigger: 'async' });
    expect(r).toMatchObject({ outcome: 'failed', error: 'FUNCTION_TIMEOUT', statusCode: 504 });
    expect(scheduler.releases).toEqual([]);
    finish();
    for (let i = 0; i < 100 && scheduler.releases.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
    expect(scheduler.releases).toEqual(['timeout']);

    handle = () => {}; // never answers
    scheduler.releases.length = 0;
    await invoker.invoke(target(100), event, { trigger: 'async' });
    expect(scheduler.releases).toEqual([]);
    for (let i = 0; i < 200 && scheduler.releases.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
    expect(scheduler.releases).toEqual(['hung']);
  });

  it('a refused acquire (e.g. 429) is a failed attempt with its code', async () => {
    const { StratusError } = await import('../../core/errors.js');
    scheduler.acquireError = new StratusError('TOO_MANY_REQUESTS', 'busy');
    const r = await invoker.invoke(target(), event, { trigger: 'async' });
    expect(r).toMatchObject({ outcome: 'failed', error: 'TOO_MANY_REQUESTS', statusCode: 429 });
    expect(records[0]).toMatchObject({ outcome: 'failed', statusCode: 429, error: 'TOO_MANY_REQUESTS' });
  });
});
