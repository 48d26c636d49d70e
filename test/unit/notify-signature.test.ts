// The rules a notification delivery lives by, alone: the webhook signature (HMAC-SHA256 over
// "timestamp.body", as a receiver verifies it), the backoff between attempts, which answers are retried.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MAX_BACKOFF_MS, backoffDelay, parseRetryAfter, retryableStatus } from '../../services/notify/retry.js';
import { sign, verify } from '../../services/notify/signature.js';

const SECRET = 'whsec-0123456789abcdef';
const BODY = '{"id":"e1","type":"build.failed","function":"hello"}';
const NOW_MS = 1_700_000_000_000;
const TS = NOW_MS / 1000;

describe('webhook signature', () => {
  it('is sha256=<hex HMAC-SHA256 of "timestamp.body">, which anyone can recompute with node:crypto', () => {
    const expected = crypto.createHmac('sha256', SECRET).update(`${TS}.${BODY}`).digest('hex');
    expect(sign(SECRET, TS, BODY)).toBe(`sha256=${expected}`);
    expect(sign(SECRET, TS, Buffer.from(BODY))).toBe(`sha256=${expected}`);
  });

  it('verifies a signed request and refuses a changed body, another secret, a moved timestamp, a missing header', () => {
    const signature = sign(SECRET, TS, BODY);
    expect(verify(SECRET, BODY, { signature, timestamp: String(TS) }, NOW_MS)).toEqual({ ok: true });
    expect(verify(SECRET, BODY.replace('hello', 'hellp'), { signature, timestamp: String(TS) }, NOW_MS)).toEqual({ ok: false, reason: 'signature does not match' });
    expect(verify('another-secret-0123456789', BODY, { signature, timestamp: String(TS) }, NOW_MS)).toEqual({ ok: false, reason: 'signature does not match' });
    // The timestamp is signed: bringing an old request up to date by changing its header breaks the signature.
    expect(verify(SECRET, BODY, { signature, timestamp: String(TS + 1) }, NOW_MS)).toEqual({ ok: false, reason: 'signature does not match' });
    expect(verify(SECRET, BODY, { signature: undefined, timestamp: String(TS) }, NOW_MS)).toEqual({ ok: false, reason: 'missing x-stratus-signature' });
    expect(verify(SECRET, BODY, { signature, timestamp: 'yesterday' }, NOW_MS)).toMatchObject({ ok: false, reason: expect.stringMatching(/not Unix seconds/) });
    expect(verify(SECRET, BODY, { signature: signature.slice(0, -1), timestamp: String(TS) }, NOW_MS)).toEqual({ ok: false, reason: 'signature does not match' });
  });

  it('refuses a replay: a correctly signed request older (or newer) than the tolerance', () => {
    const old = TS - 301;
    expect(verify(SECRET, BODY, { signature: sign(SECRET, old, BODY), timestamp: String(old) }, NOW_MS)).toMatchObject({ ok: false, reason: expect.stringMatching(/more than 300 s away/) });
    const future = TS + 301;
    expect(verify(SECRET, BODY, { signature: sign(SECRET, future, BODY), timestamp: String(future) }, NOW_MS)).toMatchObject({ ok: false });
    const recent = TS - 299;
    expect(verify(SECRET, BODY, { signature: sign(SECRET, recent, BODY), timestamp: String(recent) }, NOW_MS)).toEqual({ ok: true });
  });
});

describe("docs/pipeline.md's verification snippet", () => {
  it('accepts what Stratus signs and refuses a changed body or a stale timestamp', async () => {
    const readme = fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/pipeline.md'), 'utf8');
    const snippet = /^## Notifications$[\s\S]*?```js\n([\s\S]*?)```/m.exec(readme)?.[1];
    expect(snippet, 'docs/pipeline.md "Notifications" has a js block').toBeDefined();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-readme-')), 'verify.mjs');
    fs.writeFileSync(file, snippet!);
    const { verified } = (await import(pathToFileURL(file).href)) as { verified: (s: string, b: string, h: Record<string, string>) => boolean };
    const now = Math.floor(Date.now() / 1000);
    const headers = (ts: number, body = BODY) => ({ 'x-stratus-timestamp': String(ts), 'x-stratus-signature': sign(SECRET, ts, body) });
    expect(verified(SECRET, BODY, headers(now))).toBe(true);
    expect(verified(SECRET, BODY + ' ', headers(now))).toBe(false);
    expect(verified(SECRET, BODY, headers(now - 600))).toBe(false);
    expect(verified(SECRET, BODY, {})).toBe(false);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});

describe('delivery backoff', () => {
  const policy = { maxAttempts: 10, backoffMs: 2000 };

  it('doubles from backoffMs after each failed attempt, up to an hour', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy))).toEqual([2000, 4000, 8000, 16_000, 32_000]);
    expect(backoffDelay(12, policy)).toBe(MAX_BACKOFF_MS);
    expect(backoffDelay(60, policy)).toBe(MAX_BACKOFF_MS);
  });

  it("waits at least what the receiver's Retry-After asks, never past the hour", () => {
    expect(backoffDelay(1, policy, 30_000)).toBe(30_000);
    expect(backoffDelay(5, policy, 1000)).toBe(32_000);
    expect(backoffDelay(1, policy, 10 * 3_600_000)).toBe(MAX_BACKOFF_MS);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('120', NOW_MS)).toBe(120_000);
    expect(parseRetryAfter(new Date(NOW_MS + 90_000).toUTCString(), NOW_MS)).toBe(90_000);
    expect(parseRetryAfter(new Date(NOW_MS - 90_000).toUTCString(), NOW_MS)).toBe(0);
    expect(parseRetryAfter('soon', NOW_MS)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW_MS)).toBeUndefined();
  });

  it('retries passing failures (408, 429, 5xx) and not answers that will not change (other 4xx, 3xx)', () => {
    expect([408, 429, 500, 502, 503, 504].every(retryableStatus)).toBe(true);
    expect([301, 302, 400, 401, 403, 404, 410, 422].some(retryableStatus)).toBe(false);
  });
});
