// Email deliveries through a real SMTP server on loopback (smtp-server, with a login): the message that
// arrives (sender, recipients, subject, the event's facts and links, the X-Stratus headers); an SMTP
// "try later" (451) retried and delivered; a refusal (550) and a wrong password (535) not retried; every
// attempt with its SMTP reply code. No mocked transport: nodemailer speaks SMTP to the server.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { parseFunctionConfig } from '../../core/function-config.js';
import { silentLogger } from '../../core/log.js';
import { createNotifications, type Notifications } from '../../services/notify/index.js';
import { headerOf, startSmtpSink, textOf, type SmtpSink } from '../support/smtp-sink.js';
import { until } from '../support/until.js';

describe('email deliveries (real SMTP server on loopback)', () => {
  let smtp: SmtpSink;
  let notifications: Notifications;
  let wrongLogin: Notifications;
  const own = new Map<string, string[]>();

  const make = (url: string) =>
    createNotifications({
      settings: loadConfig({
        STRATUS_SMTP_URL: url, STRATUS_NOTIFY_EMAIL_FROM: 'stratus@stratus.test', STRATUS_NOTIFY_EMAIL_TO: 'ops@stratus.test',
        STRATUS_NOTIFY_ATTEMPTS: '3', STRATUS_NOTIFY_BACKOFF_MS: '50', STRATUS_NOTIFY_TIMEOUT_MS: '5000',
      }).notify,
      store: { getFunction: async (name) => (own.has(name) ? ({ config: parseFunctionConfig({ name, runtime: 'node', notify: { email: own.get(name) } }) } as never) : null) },
      redis: null,
      baseUrl: undefined,
      logger: silentLogger,
    });

  beforeAll(async () => {
    smtp = await startSmtpSink();
    notifications = make(smtp.url);
    wrongLogin = make(smtp.url.replace(encodeURIComponent('smtp-p@ss/word'), 'wrong-password'));
  });

  afterAll(async () => {
    await notifications?.close();
    await wrongLogin?.close();
    await smtp?.close();
  });

  const finished = (n: Notifications, fn: string, count: number) =>
    until(`${count} deliveries of ${fn} to end`, async () => {
      const list = await n.deliveries.list({ function: fn, limit: 10 });
      return list.length === count && list.every((d) => d.status !== 'pending') ? list : undefined;
    }, 30_000, 50);

  it("mails the platform's recipients and the function's own, one message each, saying what failed and where to look", async () => {
    own.set('mailed', ['dev@stratus.test', 'OPS@stratus.test']); // ops@ is already on the global list: mailed once
    await notifications.notify({ kind: 'build.failed', function: 'mailed', version: 4, data: { buildId: 'b-42', error: 'cannot load handler "index.handler": SyntaxError: Unexpected token \';\' (at index.js:2)' } });
    const deliveries = await finished(notifications, 'mailed', 2);
    expect(deliveries.map((d) => [d.owner, d.target, d.status, d.attempts.map((a) => a.statusCode)])).toEqual([
      ['function', 'dev@stratus.test', 'delivered', [250]],
      ['global', 'ops@stratus.test', 'delivered', [250]],
    ]);

    expect(smtp.received.map((m) => m.to)).toEqual(expect.arrayContaining([['ops@stratus.test'], ['dev@stratus.test']]));
    expect(smtp.received).toHaveLength(2);
    for (const mail of smtp.received) {
      expect(mail.user).toBe('mailer'); // the URL's credentials were used
      expect(mail.from).toBe('stratus@stratus.test');
      expect(headerOf(mail.raw, 'Subject')).toBe('[Stratus] build of mailed v4 failed: cannot load handler "index.handler": SyntaxError: Unexpected token \';\' (at index.js:2)');
      expect(headerOf(mail.raw, 'X-Stratus-Event')).toBe('build.failed');
      expect(deliveries.map((d) => d.id)).toContain(headerOf(mail.raw, 'X-Stratus-Delivery'));
      const text = textOf(mail.raw);
      expect(text).toContain('function: mailed v4');
      expect(text).toContain('buildId: b-42');
      expect(text).toContain('buildLog: /v1/builds/b-42/logs');
    }
  });

  it('retries an SMTP "try later" (451) and delivers; a refusal (550) is not retried', async () => {
    smtp.failNext.push(451);
    await notifications.notify({ kind: 'rollout.abandoned', function: 'busy-mailbox', version: 7, data: { alias: 'latest', from: 6, to: 7, reason: 'no ready instance within 60 s' } });
    const [busy] = await finished(notifications, 'busy-mailbox', 1);
    expect(busy!.status).toBe('delivered');
    expect(busy!.attempts.map((a) => [a.statusCode, a.ok, a.nextAttemptAt !== null])).toEqual([[451, false, true], [250, true, false]]);
    expect(busy!.attempts[0]!.error).toMatch(/try again later/);

    smtp.failNext.push(550);
    await notifications.notify({ kind: 'checks.failed', function: 'refused', version: 2, data: { buildId: 'b-7', summary: 'eslint: 3 errors' } });
    const [refused] = await finished(notifications, 'refused', 1);
    expect(refused!.status).toBe('failed');
    expect(refused!.attempts.map((a) => [a.statusCode, a.nextAttemptAt])).toEqual([[550, null]]);
  });

  it('does not retry a login the server refuses (535), and shows no password in the delivery', async () => {
    const before = smtp.received.length;
    await wrongLogin.notify({ kind: 'build.failed', function: 'bad-login', version: 1, data: { buildId: 'b-1', error: 'x' } });
    const [d] = await finished(wrongLogin, 'bad-login', 1);
    expect(d!.status).toBe('failed');
    expect(d!.attempts.map((a) => a.statusCode)).toEqual([535]);
    expect(JSON.stringify(d)).not.toMatch(/wrong-password|smtp-p/);
    expect(smtp.received.length).toBe(before);
  });
});
