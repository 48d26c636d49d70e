// Signed code URLs: a stem fetches its function's code from Stratus at
//   <base>/internal/code/<function>/<version>?expires=<unix seconds>&sig=<hex HMAC-SHA256>
// The signature covers function, version and expiry, so a URL opens one version's code for a few seconds
// and nothing else. The key is derived (HKDF-SHA256) from the admin API key: every replica of a platform
// already shares that key (it must accept the same API calls), so no second secret has to be distributed
// or kept in the store, and the derived key is useless for the API (a leaked URL never reveals the admin key).
// Changing the admin key invalidates the URLs out there, which live for seconds anyway.

import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export const CODE_URL_PREFIX = '/internal/code/';

/** The signing key for code URLs, derived once per platform from its admin API key. */
export function codeUrlKey(adminApiKey: string): Buffer {
  return Buffer.from(hkdfSync('sha256', adminApiKey, 'stratus', 'stratus code url v1', 32));
}

function signature(key: Buffer, fn: string, version: number, expires: number): Buffer {
  // NUL-separated: no function name can make two different triples sign the same bytes.
  return createHmac('sha256', key).update(`${fn}\0${version}\0${expires}`).digest();
}

/** The path and query of a code URL valid until `expiresAtMs` (rounded up to the second). */
export function signCodePath(key: Buffer, fn: string, version: number, expiresAtMs: number): string {
  const expires = Math.ceil(expiresAtMs / 1000);
  return `${CODE_URL_PREFIX}${encodeURIComponent(fn)}/${version}?expires=${expires}&sig=${signature(key, fn, version, expires).toString('hex')}`;
}

export type CodeUrlCheck = { ok: true; function: string; version: number } | { ok: false; why: 'malformed' | 'expired' | 'bad-signature' };

/** Checks a request URL (path and query) against the key; the signature comparison takes constant time. */
export function verifyCodePath(key: Buffer, url: string, nowMs: number): CodeUrlCheck {
  let u: URL;
  try {
    u = new URL(url, 'http://code.invalid');
  } catch {
    return { ok: false, why: 'malformed' };
  }
  const m = u.pathname.startsWith(CODE_URL_PREFIX) ? u.pathname.slice(CODE_URL_PREFIX.length).match(/^([^/]{1,200})\/([1-9][0-9]{0,9})$/) : null;
  const expires = u.searchParams.get('expires') ?? '';
  const sig = u.searchParams.get('sig') ?? '';
  if (!m || !/^[0-9]{1,12}$/.test(expires) || !/^[0-9a-f]{64}$/.test(sig)) return { ok: false, why: 'malformed' };
  let fn: string;
  try {
    fn = decodeURIComponent(m[1]!);
  } catch {
    return { ok: false, why: 'malformed' };
  }
  const version = Number(m[2]);
  const want = signature(key, fn, version, Number(expires));
  // Checked before the expiry: an expired URL with a wrong signature says nothing about the key.
  if (!timingSafeEqual(want, Buffer.from(sig, 'hex'))) return { ok: false, why: 'bad-signature' };
  if (Number(expires) * 1000 < nowMs) return { ok: false, why: 'expired' };
  return { ok: true, function: fn, version };
}
