// A failed build is heard about, end to end: a whole platform (Redis store, so the deliveries go through
// BullMQ; process backend, whose load check fails the syntax error — no Docker needed) with the platform's
// email channel pointing at a real SMTP server on loopback and the function's own webhook at a real HTTP
// server that verifies the signature. Uploading code that does not load sends exactly one email and one
// signed webhook, both listed with their attempts by GET /v1/notifications; a build that succeeds sends none.

import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { verify } from '../../services/notify/signature.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing, REDIS_URL } from '../support/services.js';
import { headerOf, startSmtpSink, textOf, type SmtpSink } from '../support/smtp-sink.js';
import { until } from '../support/until.js';

const SECRET = 'whsec-build-0123456789abcdef';

describe.skipIf(await missing('redis'))('a failed build notifies (Redis, process backend, real SMTP and HTTP receivers)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  let smtp: SmtpSink;
  let hooks: http.Server;
  let hookUrl: string;
  const received: { body: string; headers: http.IncomingHttpHeaders; verified: ReturnType<typeof verify> }[] = [];
  const name = `notify-${Date.now().toString(36)}`;
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}` } });

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-notify-'));
    smtp = await startSmtpSink();
    hooks = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const verified = verify(SECRET, body, { signature: req.headers['x-stratus-signature'] as string | undefined, timestamp: req.headers['x-stratus-timestamp'] as string | undefined });
        received.push({ body, headers: req.headers, verified });
        res.writeHead(verified.ok ? 204 : 401).end();
      });
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/stratus-hooks`;
    platform = await startPlatform(
      loadConfig({
        STRATUS_PORT: '0', STRATUS_STATE_DIR: stateDir, STRATUS_API_KEY: 'test-key-0123456789abcdef', STRATUS_STORE: 'redis', STRATUS_REDIS_URL: REDIS_URL,
        STRATUS_BACKEND: 'process', STRATUS_STEM_POOL_SIZE: '0', STRATUS_S3_PORT: 'off', PATH: process.env.PATH,
        STRATUS_SMTP_URL: smtp.url, STRATUS_NOTIFY_EMAIL_FROM: 'stratus@stratus.test', STRATUS_NOTIFY_EMAIL_TO: 'ops@stratus.test',
      }),
      silentLogger,
    );
  }, 120_000);

  afterAll(async () => {
    if (platform) {
      await api(`/v1/functions/${name}`, { method: 'DELETE' });
      await platform.stop();
    }
    await smtp?.close();
    hooks?.closeAllConnections();
    await new Promise<void>((resolve) => (hooks ? hooks.close(() => resolve()) : resolve()));
    // The deliveries are kept for a week: leave nothing of this run's platform in the shared Redis.
    if (stateDir) {
      const admin = new Redis(REDIS_URL);
      const keys = await admin.keys(`${platformIdFor(stateDir)}:*`);
      if (keys.length > 0) await admin.del(...keys);
      await admin.quit();
      await fs.rm(stateDir, { recursive: true, force: true });
    }
  });

  interface Delivery { id: string; channel: string; owner: string; status: string; target: string; event: { id: string; kind: string; version: number }; attempts: { statusCode: number | null; ok: boolean }[] }
  const deliveries = async (): Promise<Delivery[]> => ((await (await api(`/v1/notifications?function=${name}`)).json()) as { deliveries: Delivery[] }).deliveries;

  it('sends exactly one email and one signed webhook for a build whose code does not load', async () => {
    // The function's own channels: its webhook, and ops@ again by email (already a platform recipient: mailed once).
    const config = { name, runtime: 'node', notify: { webhook: { url: hookUrl, secret: SECRET }, email: ['ops@stratus.test'] } };
    const res = await deployFunction(platform, config, { file: 'index.js', content: 'export default async function (event) {\n  return {;\n}\n' });
    expect(res.status).toBe(202);
    const { buildId, version } = (await res.json()) as { buildId: string; version: number };
    const build = await waitForBuild(platform, buildId, 60_000);
    expect(build.status).toBe('failed');
    expect(build.error).toMatch(/SyntaxError.*\(at index\.js:2\)/);

    const done = await until('both deliveries to be delivered', async () => {
      const list = await deliveries();
      return list.length === 2 && list.every((d) => d.status === 'delivered') ? list : undefined;
    }, 60_000, 100);
    const byChannel = Object.fromEntries(done.map((d) => [d.channel, d]));
    expect(byChannel.email).toMatchObject({ owner: 'global', target: 'ops@stratus.test', event: { kind: 'build.failed', version }, attempts: [{ ok: true, statusCode: 250 }] });
    expect(byChannel.webhook).toMatchObject({ owner: 'function', target: hookUrl, event: { kind: 'build.failed', version }, attempts: [{ ok: true, statusCode: 204 }] });
    expect(byChannel.email!.event.id).toBe(byChannel.webhook!.event.id); // one event, two channels

    // Both deliveries say they are over, so these counts are final.
    expect(received).toHaveLength(1);
    const hook = received[0]!;
    expect(hook.verified).toEqual({ ok: true });
    expect(hook.headers['x-stratus-event']).toBe('build.failed');
    expect(hook.headers['x-stratus-delivery']).toBe(byChannel.webhook!.id);
    const payload = JSON.parse(hook.body) as Record<string, unknown>;
    expect(payload).toMatchObject({ type: 'build.failed', function: name, version, data: { buildId, error: build.error }, links: { build: `/v1/builds/${buildId}` } });

    expect(smtp.received).toHaveLength(1);
    const mail = smtp.received[0]!;
    expect(mail.to).toEqual(['ops@stratus.test']);
    expect(headerOf(mail.raw, 'Subject')).toMatch(new RegExp(`^\\[Stratus\\] build of ${name} v${version} failed: .*SyntaxError`));
    expect(textOf(mail.raw)).toContain(`buildId: ${buildId}`);

    // The API reads one delivery too, and refuses a query it does not understand, naming the parameter.
    expect(((await (await api(`/v1/notifications/${byChannel.webhook!.id}`)).json()) as Delivery).status).toBe('delivered');
    const bad = await api('/v1/notifications?limit=0');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'INVALID_REQUEST', field: 'query.limit' });
    expect(await (await api('/v1/notifications?function=Not_A_Name')).json()).toMatchObject({ field: 'query.function' });
    expect((await api('/v1/notifications/no-such-delivery')).status).toBe(404);
  });

  it('sends nothing for a build that succeeds', async () => {
    const config = { name, runtime: 'node', notify: { webhook: { url: hookUrl, secret: SECRET } } };
    const res = await deployFunction(platform, config, { file: 'index.js', content: 'export default async () => ({ ok: true })\n' });
    const build = await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId, 60_000);
    expect(build.status, build.error ?? '').toBe('succeeded');
    // A success calls no notifier (build-service.ts): the two deliveries are still the failed build's.
    expect(await deliveries()).toHaveLength(2);
    expect(received).toHaveLength(1);
  });
});
