// Webhook deliveries against a real HTTP server on loopback that checks every signature the way docs/pipeline.md
// tells receivers to: a receiver failing the first two attempts gets the same signed event a third time and
// the delivery lists all three attempts; a refusal that will not change (401) is not retried; an unreachable
// receiver is tried maxAttempts times. Each on the in-memory queue and on BullMQ over the real Redis.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { parseFunctionConfig } from '../../core/function-config.js';
import { silentLogger } from '../../core/log.js';
import { createNotifications, type Notifications } from '../../services/notify/index.js';
import type { DeliveryRecord } from '../../services/notify/deliveries.js';
import { DELIVERY_HEADER, EVENT_HEADER, verify } from '../../services/notify/signature.js';
import { freePort } from '../support/redis-server.js';
import { missing, REDIS_URL } from '../support/services.js';
import { until } from '../support/until.js';

const SECRET = 'whsec-test-0123456789abcdef';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  verified: ReturnType<typeof verify>;
}

/** A receiver that verifies each request and answers from a script per path (default 200). */
async function startReceiver(secret: string): Promise<{ url: string; received: Received[]; script: Map<string, number[]>; close(): Promise<void> }> {
  const received: Received[] = [];
  const script = new Map<string, number[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const verified = verify(secret, body, { signature: req.headers['x-stratus-signature'] as string | undefined, timestamp: req.headers['x-stratus-timestamp'] as string | undefined });
      received.push({ path: req.url ?? '', headers: req.headers, body, verified });
      const status = verified.ok ? (script.get(req.url ?? '')?.shift() ?? 200) : 401;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(verified.ok ? 'ok' : verified.reason);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`, received, script,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const redisAbsent = await missing('redis').catch((err: Error) => err);

describe.each([
  { queue: 'memory', skip: false },
  { queue: 'BullMQ on Redis', skip: redisAbsent === true },
])('webhook deliveries ($queue)', ({ queue, skip }) => {
  const onRedis = queue !== 'memory';
  const prefix = `notify-test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}:`;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let notifications: Notifications;
  const functions = new Map<string, unknown>();

  beforeAll(async () => {
    if (skip) return;
    if (redisAbsent instanceof Error && onRedis) throw redisAbsent; // CI=true without Redis: fail, never skip
    receiver = await startReceiver(SECRET);
    const settings = loadConfig({ STRATUS_NOTIFY_ATTEMPTS: '3', STRATUS_NOTIFY_BACKOFF_MS: '50', STRATUS_NOTIFY_TIMEOUT_MS: '2000' }).notify;
    notifications = createNotifications({
      settings,
      // The function's own notify field, read at every attempt as the platform does.
      store: { getFunction: async (name) => (functions.has(name) ? ({ config: parseFunctionConfig({ name, runtime: 'node', notify: functions.get(name) }) } as never) : null) },
      redis: onRedis ? { url: REDIS_URL, prefix } : null,
      baseUrl: 'http://127.0.0.1:8080',
      logger: silentLogger,
    });
  });

  afterAll(async () => {
    await notifications?.close();
    await receiver?.close();
    if (onRedis && !skip) {
      const admin = new Redis(REDIS_URL);
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      await admin.quit();
    }
  });

  const finished = (fn: string) =>
    until(`the delivery of ${fn} to end`, async () => {
      const [d] = await notifications.deliveries.list({ function: fn, limit: 10 });
      return d && d.status !== 'pending' ? d : undefined;
    }, 30_000, 50);

  it.skipIf(skip)('retries a receiver that fails twice with the same signed event, then lists the three attempts', async () => {
    const fn = 'flaky-receiver';
    functions.set(fn, { webhook: { url: `${receiver.url}/hooks/${fn}`, secret: SECRET } });
    receiver.script.set(`/hooks/${fn}`, [503, 500]);
    await notifications.notify({ kind: 'build.failed', function: fn, version: 3, data: { buildId: 'b-123', error: 'SyntaxError: Unexpected token (at index.js:2)' } });

    const delivery: DeliveryRecord = await finished(fn);
    expect(delivery).toMatchObject({ status: 'delivered', channel: 'webhook', owner: 'function', target: `${receiver.url}/hooks/${fn}`, maxAttempts: 3 });
    expect(delivery.attempts.map((a) => [a.attempt, a.ok, a.statusCode, a.error])).toEqual([[1, false, 503, 'answered 503'], [2, false, 500, 'answered 500'], [3, true, 200, null]]);
    expect(delivery.attempts.map((a) => a.nextAttemptAt === null)).toEqual([false, false, true]);
    for (const a of delivery.attempts) expect(Number.isNaN(Date.parse(a.at))).toBe(false);

    const got = receiver.received.filter((r) => r.path === `/hooks/${fn}`);
    expect(got).toHaveLength(3);
    for (const r of got) {
      expect(r.verified).toEqual({ ok: true });
      expect(r.headers[DELIVERY_HEADER]).toBe(delivery.id);
      expect(r.headers[EVENT_HEADER]).toBe('build.failed');
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.body).toBe(got[0]!.body); // the same bytes each time; only the timestamp and signature are new
    }
    expect(JSON.parse(got[0]!.body)).toEqual({
      id: delivery.event.id, type: 'build.failed', time: delivery.event.time, function: fn, version: 3,
      summary: 'build of flaky-receiver v3 failed: SyntaxError: Unexpected token (at index.js:2)',
      data: { buildId: 'b-123', error: 'SyntaxError: Unexpected token (at index.js:2)' },
      links: { function: `http://127.0.0.1:8080/v1/functions/${fn}`, build: 'http://127.0.0.1:8080/v1/builds/b-123', buildLog: 'http://127.0.0.1:8080/v1/builds/b-123/logs' },
    });
    expect(await notifications.deliveries.get(delivery.id)).toEqual(delivery);
  });

  it.skipIf(skip)('does not retry a refusal that will not change: a receiver holding another secret answers 401 once', async () => {
    const fn = 'wrong-secret';
    functions.set(fn, { webhook: { url: `${receiver.url}/hooks/${fn}`, secret: 'not-the-receivers-secret' } });
    await notifications.notify({ kind: 'rollback', function: fn, version: 1, data: { alias: 'latest', from: 2, to: 1, automatic: true, reason: 'error rate 40 % over 30 s' } });
    const delivery = await finished(fn);
    expect(delivery.status).toBe('failed');
    expect(delivery.attempts.map((a) => [a.statusCode, a.error, a.nextAttemptAt])).toEqual([[401, 'answered 401', null]]);
    const got = receiver.received.filter((r) => r.path === `/hooks/${fn}`);
    expect(got.map((r) => r.verified)).toEqual([{ ok: false, reason: 'signature does not match' }]);
  });

  it.skipIf(skip)('tries an unreachable receiver maxAttempts times, each error recorded', async () => {
    const fn = 'nobody-listens';
    functions.set(fn, { webhook: { url: `http://127.0.0.1:${await freePort()}/hook`, secret: SECRET } });
    await notifications.notify({ kind: 'error-rate.high', function: fn, version: 2, data: { errorRate: 0.25, threshold: 0.05, windowMs: 60_000, requests: 400 } });
    const delivery = await finished(fn);
    expect(delivery.status).toBe('failed');
    expect(delivery.event.summary).toBe('nobody-listens v2 error rate 25.0 % over 60 s (threshold 5.0 %, 400 requests)');
    expect(delivery.attempts).toHaveLength(3);
    for (const a of delivery.attempts) expect(a).toMatchObject({ ok: false, statusCode: null, error: expect.stringMatching(/ECONNREFUSED/) });
  });

  it.skipIf(skip)('lists deliveries newest first, by function and by status', async () => {
    const all = await notifications.deliveries.list({ limit: 100 });
    expect(all.map((d) => d.event.function)).toEqual(['nobody-listens', 'wrong-secret', 'flaky-receiver']);
    expect((await notifications.deliveries.list({ status: 'failed', limit: 100 })).map((d) => d.event.function)).toEqual(['nobody-listens', 'wrong-secret']);
    expect(await notifications.deliveries.list({ function: 'flaky-receiver', limit: 1 })).toHaveLength(1);
    expect(await notifications.deliveries.list({ function: 'never-notified', limit: 10 })).toEqual([]);
  });
});
