// Which forge sent a hook, and whether it knew the function's git secret. Every check runs over the raw
// bytes received (a parsed-and-reserialized body would not hash the same) and in constant time: both
// sides are fixed-length digests compared with timingSafeEqual, so neither a prefix nor a length leaks.
//
//   GitHub  X-GitHub-Event: push | ping …   X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>
//   GitLab  X-Gitlab-Event: Push Hook …     X-Gitlab-Token: <secret>
//   Gitea   X-Gitea-Event: push …           X-Gitea-Signature: <hex HMAC-SHA256(secret, body)>
//
// Gitea (and Forgejo) also send GitHub's headers for compatibility, so Gitea's are looked at first.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';

export type Forge = 'github' | 'gitlab' | 'gitea';

export interface HookSender {
  forge: Forge;
  /** The event header's value: "push", "ping", "Push Hook", "Tag Push Hook", … */
  event: string;
  /**
   * The forge's delivery id when it sends one: the log names it, and a delivery seen before builds nothing.
   * Not covered by the signature (only the body is): it tells redeliveries apart, it does not stop a replay.
   */
  delivery: string | null;
}

// GitHub keeps X-GitHub-Delivery on a redelivery. GitLab keeps Idempotency-Key across its retries (since
// 17.4); older GitLab sends only X-Gitlab-Event-UUID. Gitea names each delivery X-Gitea-Delivery.
const EVENT_HEADERS: ReadonlyArray<[Forge, string, string[]]> = [
  ['gitea', 'x-gitea-event', ['x-gitea-delivery']],
  ['gitlab', 'x-gitlab-event', ['idempotency-key', 'x-gitlab-event-uuid']],
  ['github', 'x-github-event', ['x-github-delivery']],
];

/** A header sent once, as a short printable string; anything else counts as absent. */
export function singleHeader(headers: http.IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024) return null;
  return /^[\x20-\x7e]+$/.test(value) ? value : null;
}

/** The forge a request comes from, by its event header; null when it carries none of them. */
export function hookSender(headers: http.IncomingHttpHeaders): HookSender | null {
  for (const [forge, eventHeader, deliveryHeaders] of EVENT_HEADERS) {
    const event = singleHeader(headers, eventHeader);
    if (event === null) continue;
    const delivery = deliveryHeaders.map((h) => singleHeader(headers, h)).find((d) => d !== null) ?? null;
    return { forge, event: event.trim(), delivery };
  }
  return null;
}

const hmac = (secret: string, body: Buffer) => createHmac('sha256', secret).update(body).digest();
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The header a forge authenticates with, named in a 401's detail. */
export const CREDENTIAL_HEADER: Record<Forge, string> = {
  github: 'X-Hub-Signature-256',
  gitlab: 'X-Gitlab-Token',
  gitea: 'X-Gitea-Signature',
};

/**
 * Whether the request proves the secret: 'ok', 'missing' (no usable header) or 'wrong'. A signature that
 * is not 64 hex digits (with GitHub's "sha256=" prefix) is 'wrong' without hashing anything.
 */
export function checkCredential(forge: Forge, headers: http.IncomingHttpHeaders, rawBody: Buffer, secret: string): 'ok' | 'missing' | 'wrong' {
  const given = singleHeader(headers, CREDENTIAL_HEADER[forge].toLowerCase());
  if (given === null) return 'missing';
  if (forge === 'gitlab') {
    // Both hashed first: equal lengths whatever was sent, so the comparison's time says nothing.
    return timingSafeEqual(sha256(given), sha256(secret)) ? 'ok' : 'wrong';
  }
  const hex = forge === 'github' ? /^sha256=([0-9a-fA-F]{64})$/.exec(given)?.[1] : /^([0-9a-fA-F]{64})$/.exec(given)?.[1];
  if (hex === undefined) return 'wrong';
  return timingSafeEqual(Buffer.from(hex, 'hex'), hmac(secret, rawBody)) ? 'ok' : 'wrong';
}

/**
 * What a forge would send for `body`: tests build requests with it (docs/tutorial.md signs its curl example
 * the same way, with openssl).
 */
export function signatureFor(forge: Exclude<Forge, 'gitlab'>, secret: string, body: Buffer | string): string {
  const hex = hmac(secret, Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')).toString('hex');
  return forge === 'github' ? `sha256=${hex}` : hex;
}
