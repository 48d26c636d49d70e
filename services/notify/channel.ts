// A channel makes ONE attempt to hand an event to a receiver and says how it went; retrying is the
// delivery queue's work (retry.ts decides when), so channels stay small and testable alone.

import type { NotifyEvent } from '../../core/ports/notifier.js';

export type ChannelKind = 'webhook' | 'email';

export interface AttemptContext {
  /** The delivery's id: the same in every attempt, so a receiver can drop a duplicate. */
  deliveryId: string;
  /** 1 for the first attempt. */
  attempt: number;
}

export interface AttemptOutcome {
  ok: boolean;
  /** The receiver's answer: an HTTP status, or an SMTP reply code; null when none came. */
  statusCode: number | null;
  /** What went wrong, in words fit for the API (never a secret); null when delivered. */
  error: string | null;
  /** Whether another attempt may succeed (a timeout, a 5xx, an SMTP 4xx), rather than meet the same answer. */
  retryable: boolean;
  /** The receiver asked to wait this long before the next attempt (Retry-After). */
  retryAfterMs?: number;
}

export interface Channel {
  readonly kind: ChannelKind;
  /** Where it delivers, fit for the API and logs: an URL without credentials or query, or the recipients. */
  readonly target: string;
  attempt(event: NotifyEvent, ctx: AttemptContext): Promise<AttemptOutcome>;
}

/** A channel a function asks for that this platform cannot serve (email without an SMTP server): each attempt says so. */
export class UnavailableChannel implements Channel {
  constructor(
    readonly kind: ChannelKind,
    readonly target: string,
    private readonly why: string,
  ) {}

  async attempt(): Promise<AttemptOutcome> {
    return { ok: false, statusCode: null, error: this.why, retryable: false };
  }
}

/** A network error as a short sentence: the system code when there is one (ECONNREFUSED), else the message. */
export function describeNetworkError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : null;
  const message = typeof e.message === 'string' ? e.message : String(err);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}
