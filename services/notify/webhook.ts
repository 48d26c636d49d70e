// The webhook channel: one signed JSON POST per attempt (signature.ts says how it is signed and why).
// node:http rather than fetch: a fresh socket per attempt, closed once the status line is read, so no
// connection pool outlives the platform and a receiver that streams a body forever costs nothing.

import http from 'node:http';
import https from 'node:https';
import type { Clock } from '../../core/lifecycle.js';
import { describeNetworkError, type AttemptContext, type AttemptOutcome, type Channel } from './channel.js';
import { type NotifyEvent } from '../../core/ports/notifier.js';
import { payloadOf } from './event-text.js';
import { parseRetryAfter, retryableStatus } from './retry.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign } from './signature.js';

export interface WebhookTarget {
  url: string;
  secret: string;
}

export interface WebhookOptions {
  /** One attempt's bound, connection to status line. */
  timeoutMs: number;
  /** Makes the payload's links absolute (STRATUS_PUBLIC_URL). */
  baseUrl: string | undefined;
  clock: Clock;
}

export class WebhookChannel implements Channel {
  readonly kind = 'webhook';
  readonly target: string;

  constructor(
    private readonly to: WebhookTarget,
    private readonly o: WebhookOptions,
  ) {
    this.target = publicTarget(to.url);
  }

  async attempt(event: NotifyEvent, ctx: AttemptContext): Promise<AttemptOutcome> {
    const body = JSON.stringify(payloadOf(event, this.o.baseUrl));
    const timestamp = Math.floor(this.o.clock.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': 'Stratus-Notify/1',
      [EVENT_HEADER]: event.kind,
      [DELIVERY_HEADER]: ctx.deliveryId,
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: sign(this.to.secret, timestamp, body),
    };
    try {
      const res = await post(this.to.url, headers, body, this.o.timeoutMs);
      if (res.status >= 200 && res.status < 300) return { ok: true, statusCode: res.status, error: null, retryable: false };
      const retryAfterMs = parseRetryAfter(res.retryAfter, this.o.clock.now());
      return {
        ok: false, statusCode: res.status, retryable: retryableStatus(res.status),
        error: res.status >= 300 && res.status < 400 ? `answered ${res.status} (redirects are not followed: configure the final URL)` : `answered ${res.status}`,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    } catch (err) {
      return { ok: false, statusCode: null, error: describeNetworkError(err), retryable: true };
    }
  }
}

/** An URL fit for the API and logs: scheme, host and path (an incoming-webhook path can hold a token: only its start). */
export function publicTarget(raw: string): string {
  const u = new URL(raw);
  const path = u.pathname.length > 24 ? `${u.pathname.slice(0, 20)}…` : u.pathname;
  return `${u.protocol}//${u.host}${path === '/' ? '' : path}`;
}

function post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const request = u.protocol === 'https:' ? https.request : http.request;
    const req = request(u, { method: 'POST', headers, agent: false, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const retryAfter = res.headers['retry-after'];
      // The status is all we need: the rest of the answer is not read.
      res.destroy();
      resolve({ status: res.statusCode ?? 0, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter });
    });
    req.on('error', (err) => reject(err.name === 'AbortError' ? new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`) : err));
    req.end(body);
  });
}
