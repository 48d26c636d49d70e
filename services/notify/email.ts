// The email channel: one message per attempt through an SMTP server (nodemailer). The transport is the
// platform's one (STRATUS_SMTP_URL); the global channel and each function's own differ only in recipients.

import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { describeNetworkError, type AttemptContext, type AttemptOutcome, type Channel } from './channel.js';
import { type NotifyEvent } from '../../core/ports/notifier.js';
import { linksOf, summarize } from './event-text.js';
import { DELIVERY_HEADER, EVENT_HEADER } from './signature.js';

export interface SmtpSettings {
  /** smtp://[user:password@]host[:port] (STARTTLS when the server offers it) or smtps://… (TLS from the start). */
  url: string;
  from: string;
}

/**
 * A transport with the URL's host, port, security and credentials and bounded waits. No pool: each
 * message opens and closes its own connection, so nothing stays open between rare notifications.
 */
export function createSmtpTransport(smtp: SmtpSettings, timeoutMs: number): Transporter {
  const u = new URL(smtp.url);
  const auth = u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined;
  return nodemailer.createTransport({
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    ...(u.port ? { port: Number(u.port) } : {}),
    secure: u.protocol === 'smtps:',
    ...(auth ? { auth } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
}

export class EmailChannel implements Channel {
  readonly kind = 'email';
  readonly target: string;

  constructor(
    private readonly transport: Transporter,
    private readonly from: string,
    private readonly to: readonly string[],
    private readonly baseUrl: string | undefined,
  ) {
    this.target = to.join(', ');
  }

  async attempt(event: NotifyEvent, ctx: AttemptContext): Promise<AttemptOutcome> {
    try {
      const info = (await this.transport.sendMail({
        from: this.from,
        to: [...this.to],
        subject: `[Stratus] ${summarize(event)}`.replace(/[\r\n]+/g, ' '),
        text: renderText(event, this.baseUrl),
        headers: { [EVENT_HEADER]: event.kind, [DELIVERY_HEADER]: ctx.deliveryId },
      })) as { response?: string };
      return { ok: true, statusCode: replyCode(info.response) ?? 250, error: null, retryable: false };
    } catch (err) {
      const code = (err as { responseCode?: unknown }).responseCode;
      const statusCode = typeof code === 'number' ? code : null;
      // An SMTP 4xx is "try again later", a 5xx final; no reply at all (connection, timeout) may pass.
      return { ok: false, statusCode, error: describeNetworkError(err), retryable: statusCode === null || statusCode < 500 };
    }
  }
}

/** The message body: the summary, the event's facts one per line, where to look next. */
export function renderText(event: NotifyEvent, baseUrl: string | undefined): string {
  const facts = Object.entries(event.data).map(([k, v]) => `  ${k}: ${typeof v === 'string' ? v.replace(/\n/g, '\n    ') : JSON.stringify(v)}`);
  const links = Object.entries(linksOf(event, baseUrl)).map(([k, v]) => `  ${k}: ${v}`);
  return [
    summarize(event), '',
    `event:    ${event.kind}`,
    `function: ${event.function}${event.version === null ? '' : ` v${event.version}`}`,
    `time:     ${event.time}`,
    `id:       ${event.id}`, '',
    ...facts, '',
    'More:', ...links, '',
  ].join('\n');
}

const replyCode = (response: string | undefined): number | undefined => {
  const m = /^(\d{3})/.exec(response ?? '');
  return m ? Number(m[1]) : undefined;
};
