// Notification settings are validated once, with the broken field named: the platform's channels from
// STRATUS_NOTIFY_* / STRATUS_SMTP_URL, a function's own in its `notify` field; and start-up prints where
// notifications go without the webhook secret, its path or the SMTP password.

import { describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from '../../core/config.js';
import { StratusError } from '../../core/errors.js';
import { parseFunctionConfig } from '../../core/function-config.js';
import { ChannelRoutes, NO_SMTP } from '../../services/notify/routing.js';
import { systemClock } from '../../core/lifecycle.js';

const SECRET = 'whsec-0123456789abcdef';

function fieldOf(run: () => unknown): { field: unknown; message: string } {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(StratusError);
    return { field: (err as StratusError).details.field, message: (err as StratusError).message };
  }
  throw new Error('did not throw');
}

describe('platform notification settings', () => {
  it('names the setting a channel lacks or gets wrong', () => {
    expect(fieldOf(() => loadConfig({ STRATUS_NOTIFY_WEBHOOK_URL: 'http://127.0.0.1:9/h' }))).toMatchObject({ field: 'STRATUS_NOTIFY_WEBHOOK_SECRET', message: expect.stringMatching(/signed/) });
    expect(fieldOf(() => loadConfig({ STRATUS_NOTIFY_WEBHOOK_URL: 'ftp://127.0.0.1/h', STRATUS_NOTIFY_WEBHOOK_SECRET: SECRET }))).toMatchObject({ field: 'STRATUS_NOTIFY_WEBHOOK_URL' });
    expect(fieldOf(() => loadConfig({ STRATUS_NOTIFY_WEBHOOK_URL: 'http://127.0.0.1/h', STRATUS_NOTIFY_WEBHOOK_SECRET: 'short' }))).toMatchObject({ field: 'STRATUS_NOTIFY_WEBHOOK_SECRET' });
    expect(fieldOf(() => loadConfig({ STRATUS_NOTIFY_EMAIL_TO: 'ops@stratus.test' }))).toMatchObject({ field: 'STRATUS_SMTP_URL' });
    expect(fieldOf(() => loadConfig({ STRATUS_SMTP_URL: 'smtp://127.0.0.1:2525' }))).toMatchObject({ field: 'STRATUS_NOTIFY_EMAIL_FROM' });
    expect(fieldOf(() => loadConfig({ STRATUS_SMTP_URL: 'http://127.0.0.1:2525', STRATUS_NOTIFY_EMAIL_FROM: 'stratus@stratus.test' }))).toMatchObject({ field: 'STRATUS_SMTP_URL' });
    expect(fieldOf(() => loadConfig({ STRATUS_SMTP_URL: 'smtp://127.0.0.1', STRATUS_NOTIFY_EMAIL_FROM: 'stratus@stratus.test', STRATUS_NOTIFY_EMAIL_TO: 'ops@stratus.test, ops' }))).toEqual({
      field: 'STRATUS_NOTIFY_EMAIL_TO', message: 'STRATUS_NOTIFY_EMAIL_TO: "ops" is not an email address; give a comma-separated list of addresses',
    });
  });

  it('reads the channels and retry settings, with defaults', () => {
    expect(loadConfig({}).notify).toEqual({ webhook: null, smtp: null, emailTo: [], attempts: 10, backoffMs: 2000, timeoutMs: 10_000 });
    const cfg = loadConfig({
      STRATUS_NOTIFY_WEBHOOK_URL: 'https://127.0.0.1:8443/hook', STRATUS_NOTIFY_WEBHOOK_SECRET: SECRET,
      STRATUS_SMTP_URL: 'smtps://mailer:p%40ss@127.0.0.1:465', STRATUS_NOTIFY_EMAIL_FROM: 'stratus@stratus.test', STRATUS_NOTIFY_EMAIL_TO: ' ops@stratus.test ,dev@stratus.test,',
      STRATUS_NOTIFY_ATTEMPTS: '3', STRATUS_NOTIFY_BACKOFF_MS: '50',
    });
    expect(cfg.notify).toEqual({
      webhook: { url: 'https://127.0.0.1:8443/hook', secret: SECRET }, smtp: { url: 'smtps://mailer:p%40ss@127.0.0.1:465', from: 'stratus@stratus.test' },
      emailTo: ['ops@stratus.test', 'dev@stratus.test'], attempts: 3, backoffMs: 50, timeoutMs: 10_000,
    });
  });

  it('is printed without the webhook secret, its path (a token may hide there) or the SMTP credentials', () => {
    const cfg = loadConfig({
      STRATUS_NOTIFY_WEBHOOK_URL: 'https://127.0.0.1:8443/services/T0/B0/token-in-path', STRATUS_NOTIFY_WEBHOOK_SECRET: SECRET,
      STRATUS_SMTP_URL: 'smtp://mailer:smtp-password-secret@127.0.0.1:587', STRATUS_NOTIFY_EMAIL_FROM: 'stratus@stratus.test', STRATUS_NOTIFY_EMAIL_TO: 'ops@stratus.test',
    });
    const printed = JSON.stringify(describeConfig(cfg));
    for (const secret of [SECRET, 'token-in-path', 'smtp-password-secret', 'mailer']) expect(printed).not.toContain(secret);
    expect(describeConfig(cfg).notify).toEqual({ webhook: 'https://127.0.0.1:8443', smtp: 'smtp://<credentials>@127.0.0.1:587', emailTo: 1 });
    expect(describeConfig(loadConfig({})).notify).toBeUndefined();
  });
});

describe("a function's notify field", () => {
  const parse = (notify: unknown) => parseFunctionConfig({ name: 'hello', runtime: 'node', notify });

  it('takes a signed webhook and email addresses', () => {
    expect(parse({ webhook: { url: 'https://127.0.0.1/h', secret: SECRET }, email: ['dev@stratus.test'] }).notify).toEqual({ webhook: { url: 'https://127.0.0.1/h', secret: SECRET }, email: ['dev@stratus.test'] });
    expect(parseFunctionConfig({ name: 'hello', runtime: 'node' }).notify).toBeUndefined();
  });

  it('names the broken field', () => {
    expect(fieldOf(() => parse({ webhook: { url: 'https://127.0.0.1/h' } }))).toMatchObject({ field: 'config.notify.webhook.secret', message: expect.stringMatching(/signed/) });
    expect(fieldOf(() => parse({ webhook: { url: 'file:///etc/passwd', secret: SECRET } }))).toMatchObject({ field: 'config.notify.webhook.url' });
    expect(fieldOf(() => parse({ webhook: { url: 'https://127.0.0.1/h', secret: SECRET, events: [] } }))).toMatchObject({ field: 'config.notify.webhook' });
    expect(fieldOf(() => parse({ email: ['dev@stratus.test', 'not-an-address'] }))).toMatchObject({ field: 'config.notify.email.1' });
    expect(fieldOf(() => parse({ email: [] }))).toMatchObject({ field: 'config.notify.email' });
    expect(fieldOf(() => parse({ slack: 'x' }))).toMatchObject({ field: 'config.notify', message: expect.stringMatching(/slack/) });
  });
});

describe('routing an event', () => {
  const settings = (over: Partial<ReturnType<typeof loadConfig>['notify']> = {}) => ({ ...loadConfig({}).notify, ...over });
  const storeWith = (notify: unknown) => ({ getFunction: async () => ({ config: parseFunctionConfig({ name: 'hello', runtime: 'node', notify }) }) as never });

  it("sends to the platform's channels and the function's own, each receiver once", async () => {
    const webhook = { url: 'http://127.0.0.1:9/h', secret: SECRET };
    const routes = new ChannelRoutes({
      settings: settings({ webhook, smtp: { url: 'smtp://127.0.0.1:9', from: 'stratus@stratus.test' }, emailTo: ['ops@stratus.test'] }),
      store: storeWith({ webhook, email: ['OPS@stratus.test', 'dev@stratus.test'] }), transport: {} as never, baseUrl: undefined, clock: systemClock,
    });
    const routed = (await routes.channelsFor('hello')).map((r) => [r.owner, r.channel.kind, r.channel.target]);
    expect(routed).toEqual([['global', 'webhook', 'http://127.0.0.1:9/h'], ['global', 'email', 'ops@stratus.test'], ['function', 'email', 'dev@stratus.test']]);
  });

  it("keeps a function's email without an SMTP server as a delivery that says what is missing", async () => {
    const routes = new ChannelRoutes({ settings: settings(), store: storeWith({ email: ['dev@stratus.test'] }), transport: null, baseUrl: undefined, clock: systemClock });
    const [only, ...rest] = await routes.channelsFor('hello');
    expect(rest).toEqual([]);
    expect(await only!.channel.attempt({} as never, { deliveryId: 'd', attempt: 1 })).toEqual({ ok: false, statusCode: null, error: NO_SMTP, retryable: false });
  });
});
