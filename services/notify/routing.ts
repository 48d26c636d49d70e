// Which channels an event of a function goes to: the platform's own (STRATUS_NOTIFY_WEBHOOK_URL,
// STRATUS_NOTIFY_EMAIL_TO) and the function's `notify` field, as configured when the attempt is made —
// so a URL or address fixed while a delivery waits for its retry takes effect at the next attempt. A
// function's channel that repeats a global one (the same webhook URL, an address already on the global
// list) is left out: one receiver hears of an event once.

import type { Transporter } from 'nodemailer';
import type { Config } from '../../core/config.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Store } from '../../core/store/store.js';
import { UnavailableChannel, type Channel } from './channel.js';
import { EmailChannel } from './email.js';
import { WebhookChannel } from './webhook.js';

export interface RoutedChannel {
  owner: 'global' | 'function';
  channel: Channel;
}

export interface ChannelRoutesOptions {
  settings: Config['notify'];
  store: Pick<Store, 'getFunction'>;
  /** The platform's SMTP transport; null when STRATUS_SMTP_URL is not set. */
  transport: Transporter | null;
  baseUrl: string | undefined;
  clock: Clock;
}

export const NO_SMTP = 'this platform has no SMTP server configured: an operator sets STRATUS_SMTP_URL and STRATUS_NOTIFY_EMAIL_FROM';

export class ChannelRoutes {
  constructor(private readonly o: ChannelRoutesOptions) {}

  async channelsFor(fn: string): Promise<RoutedChannel[]> {
    const { settings, transport } = this.o;
    const webhook = { timeoutMs: settings.timeoutMs, baseUrl: this.o.baseUrl, clock: this.o.clock };
    const email = (to: string[]) => (transport && settings.smtp ? new EmailChannel(transport, settings.smtp.from, to, this.o.baseUrl) : new UnavailableChannel('email', to.join(', '), NO_SMTP));
    const out: RoutedChannel[] = [];
    if (settings.webhook) out.push({ owner: 'global', channel: new WebhookChannel(settings.webhook, webhook) });
    if (settings.emailTo.length > 0) out.push({ owner: 'global', channel: email(settings.emailTo) });

    const own = (await this.o.store.getFunction(fn))?.config.notify;
    if (own?.webhook && own.webhook.url !== settings.webhook?.url) out.push({ owner: 'function', channel: new WebhookChannel(own.webhook, webhook) });
    const globalTo = new Set(settings.emailTo.map((a) => a.toLowerCase()));
    const to = (own?.email ?? []).filter((a) => !globalTo.has(a.toLowerCase()));
    if (to.length > 0) out.push({ owner: 'function', channel: email(to) });
    return out;
  }
}
