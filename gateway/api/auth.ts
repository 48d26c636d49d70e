// The admin key's check, for both doors that take it: /v1's Bearer header (requireApiKey) and the
// dashboard's sign-in (gateway/ui/router.ts). Both sides are hashed first so the comparison is
// constant-time whatever the length of the presented key. Wrong keys are throttled per client
// (auth-throttle.ts), one count for both doors.

import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { RequestHandler } from 'express';
import type { Config } from '../../core/config.js';
import { StratusError } from '../../core/errors.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { AuthThrottle, DEFAULT_THROTTLE_LIMITS } from './auth-throttle.js';
import { clientAddress, type ClientOf } from './client-address.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

export class AdminKeyCheck {
  readonly #expected: Buffer;

  constructor(
    apiKey: string,
    readonly throttle: AuthThrottle,
    readonly clientOf: ClientOf,
  ) {
    this.#expected = digest(apiKey);
  }

  /**
   * True for the admin key, false for another (counted against the client). A client past its wrong keys
   * gets `refused(seconds)` thrown before its key is compared, the right key included: see auth-throttle.ts.
   */
  verify(req: http.IncomingMessage, presented: string, refused: (retryAfterSeconds: number) => StratusError): boolean {
    const client = this.clientOf(req);
    const wait = this.throttle.retryAfter(client);
    if (wait > 0) throw refused(wait);
    if (timingSafeEqual(digest(presented), this.#expected)) return true;
    this.throttle.failed(client);
    return false;
  }
}

/** The 429 of a client throttled at /v1. */
export const bearerThrottled = (wait: number) =>
  new StratusError('TOO_MANY_REQUESTS', `too many wrong API keys from this address; try again in ${wait} s`, { retryAfterSeconds: wait, field: 'authorization' });

export function requireApiKey(check: AdminKeyCheck): RequestHandler {
  return (req, _res, next) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    // No key at all is no guess: a browser or a probe without one is told how, and not counted.
    if (!match) return next(new StratusError('UNAUTHORIZED', 'send the API key as "Authorization: Bearer <key>"', { field: 'authorization' }));
    try {
      if (check.verify(req, match[1]!.trim(), bearerThrottled)) return next();
    } catch (err) {
      return next(err);
    }
    next(new StratusError('UNAUTHORIZED', 'the API key is wrong', { field: 'authorization' }));
  };
}

/** The one check of a gateway, from its settings: per-client throttle, client by address (and trusted proxies). */
export function adminKeyCheck(apiKey: string, clock: Clock, settings: Config['auth'], logger?: Pick<Logger, 'warn'>): AdminKeyCheck {
  const throttle = new AuthThrottle(clock, { ...DEFAULT_THROTTLE_LIMITS, maxFailures: settings.maxFailures, windowMs: settings.windowMs });
  const untrustedProxy = logger && ((peer: string) => logger.warn(`requests from ${peer} carry X-Forwarded-For, but STRATUS_TRUSTED_PROXIES does not name it: if it is a proxy, the wrong-key throttle counts everyone behind that proxy as one client (one stranger's wrong keys would hold the right key of everybody behind it); name the proxy in STRATUS_TRUSTED_PROXIES`));
  return new AdminKeyCheck(apiKey, throttle, clientAddress(settings.trustedProxies, untrustedProxy));
}
