// How a webhook receiver knows a request came from this Stratus and is not a replay.
//
// Chosen scheme: GitHub's header shape with Stripe's construction. The signature is
//   x-stratus-signature: sha256=<hex HMAC-SHA256(secret, `${timestamp}.${rawBody}`)>
// with the timestamp (Unix seconds) sent beside it in x-stratus-timestamp. Signing the body alone (as
// GitHub's X-Hub-Signature-256 does) would let anyone who once saw a request send it again forever; a
// timestamp in a header that the signature does not cover could simply be changed. Covering both, a
// receiver refuses a signature that does not match or a timestamp older than its tolerance (5 min
// advised), and drops an x-stratus-delivery id it has already handled within that window. Every attempt
// is signed afresh with its own timestamp, so a retry an hour later is not refused as stale.

import crypto from 'node:crypto';

export const SIGNATURE_HEADER = 'x-stratus-signature';
export const TIMESTAMP_HEADER = 'x-stratus-timestamp';
export const DELIVERY_HEADER = 'x-stratus-delivery';
export const EVENT_HEADER = 'x-stratus-event';

/** How far a receiver should let the timestamp lag behind (or run ahead of) its own clock. */
export const DEFAULT_TOLERANCE_S = 300;

/** The header value for a body sent at `timestampS`. */
export function sign(secret: string, timestampS: number, rawBody: string | Buffer): string {
  const mac = crypto.createHmac('sha256', secret).update(`${timestampS}.`).update(rawBody).digest('hex');
  return `sha256=${mac}`;
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/**
 * What a receiver does (and what the tests check a delivery against): the signature matches the body and
 * timestamp, compared in constant time, and the timestamp is within the tolerance of `nowMs`.
 */
export function verify(secret: string, rawBody: string | Buffer, headers: { signature: string | undefined; timestamp: string | undefined }, nowMs = Date.now(), toleranceS = DEFAULT_TOLERANCE_S): VerifyResult {
  if (!headers.signature || !headers.timestamp) return { ok: false, reason: `missing ${!headers.signature ? SIGNATURE_HEADER : TIMESTAMP_HEADER}` };
  if (!/^\d{1,12}$/.test(headers.timestamp)) return { ok: false, reason: `${TIMESTAMP_HEADER} is not Unix seconds` };
  const ts = Number(headers.timestamp);
  if (Math.abs(nowMs / 1000 - ts) > toleranceS) return { ok: false, reason: `${TIMESTAMP_HEADER} is more than ${toleranceS} s away from now` };
  const expected = Buffer.from(sign(secret, ts, rawBody));
  const given = Buffer.from(headers.signature);
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return { ok: false, reason: 'signature does not match' };
  return { ok: true };
}
