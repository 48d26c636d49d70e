// When a failed delivery attempt is tried again. One rule for every channel and for both queues (BullMQ
// and its in-memory twin), so that a delivery behaves the same with and without Redis.

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** The wait after the first failed attempt; doubled after each further one. */
  backoffMs: number;
}

/** No wait grows past this, whatever the doubling or a receiver's Retry-After asks. */
export const MAX_BACKOFF_MS = 3_600_000;

/**
 * The wait before attempt `failedAttempt + 1`: backoffMs · 2^(failedAttempt − 1), at least what the
 * receiver asked with Retry-After, at most MAX_BACKOFF_MS. No jitter: deliveries are few, and a queue
 * worker runs a bounded number at once, so there is no herd of clients to spread.
 */
export function backoffDelay(failedAttempt: number, policy: RetryPolicy, retryAfterMs?: number): number {
  const doubled = policy.backoffMs * 2 ** Math.max(0, failedAttempt - 1);
  return Math.min(MAX_BACKOFF_MS, Math.max(doubled, retryAfterMs ?? 0));
}

/**
 * Whether an HTTP answer is worth another attempt: no answer in time (408), slow down (429) and server
 * errors are passing states; any other 4xx (a refused signature, a URL that does not exist) will be
 * answered the same next time, and a 3xx is not followed (the URL to configure is the final one).
 */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A Retry-After header (seconds or an HTTP date) as milliseconds from `nowMs`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
