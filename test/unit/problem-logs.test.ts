// Every 5xx of a function URL that has logs points at them, in its detail and in a `logs` field: a crash,
// an out-of-memory kill and a timeout name the call's own lines (by request id); a start that failed and
// the fast answer during a crash-loop backoff name the function's logs — the real scheduler's errors
// over a backend whose starts fail.

import http from 'node:http';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StratusError, toProblem } from '../../core/errors.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';
import { harness as schedulerHarness, version, within } from './scheduler-harness.js';

describe('5xx answers point at the logs', () => {
  let h: Harness;
  let server: http.Server;
  let port: number;

  beforeEach(async () => {
    h = await startHarness();
    server = http.createServer(h.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    const res = await request(h.app)
      .post('/v1/functions')
      .set(auth)
      .field('config', JSON.stringify({ name: 'hello', runtime: 'node', timeoutMs: 100 }))
      .attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
    await h.builder.succeed(res.body.buildId as string);
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await h.close();
  });

  const call = () =>
    new Promise<{ status: number; rid: string; problem: Record<string, unknown> }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/fn/hello' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, rid: String(res.headers['x-stratus-request-id']), problem: JSON.parse(body) as Record<string, unknown> }));
      }).on('error', reject);
    });

  const expectCallLogs = (a: { rid: string; problem: Record<string, unknown> }) => {
    const logs = `/v1/functions/hello/logs?requestId=${a.rid}`;
    expect(a.problem.logs).toBe(logs);
    expect(a.problem.detail).toContain(`see GET ${logs}`);
  };

  it('a crash', async () => {
    h.instance.handle = (req) => req.socket.destroy();
    const a = await call();
    expect([a.status, a.problem.code]).toEqual([502, 'FUNCTION_CRASHED']);
    expectCallLogs(a);
  });

  it('an out-of-memory kill', async () => {
    h.scheduler.diagnosis = { reason: 'oom', exitCode: 137 };
    h.instance.handle = (req) => req.socket.destroy();
    const a = await call();
    expect([a.status, a.problem.code]).toEqual([502, 'FUNCTION_OUT_OF_MEMORY']);
    expectCallLogs(a);
  });

  it('a timeout', async () => {
    let finish!: () => void;
    h.instance.handle = (_req, res) => (finish = () => res.end('late'));
    const a = await call();
    finish();
    expect([a.status, a.problem.code]).toEqual([504, 'FUNCTION_TIMEOUT']);
    expectCallLogs(a);
  });
});

describe('start failures point at the function\'s logs', () => {
  it('INSTANCE_START_FAILED, then FUNCTION_UNAVAILABLE during the backoff, as problem documents', async () => {
    const s = schedulerHarness();
    try {
      s.backend.failStarts = 10;
      const errors: StratusError[] = [];
      for (let i = 0; i < 2; i++) await s.scheduler.acquire(version('hello'), within(s)).catch((e: StratusError) => errors.push(e));
      const [failed, unavailable] = errors.map((e) => toProblem(e));
      expect(failed).toMatchObject({ status: 502, code: 'INSTANCE_START_FAILED', logs: '/v1/functions/hello/logs', detail: expect.stringMatching(/see GET \/v1\/functions\/hello\/logs$/) });
      expect(unavailable).toMatchObject({ status: 503, code: 'FUNCTION_UNAVAILABLE', logs: '/v1/functions/hello/logs', detail: expect.stringMatching(/see GET \/v1\/functions\/hello\/logs$/) });
    } finally {
      await s.cleanup();
    }
  });
});
