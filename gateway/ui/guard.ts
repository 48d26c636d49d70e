// Who may see and change what under /ui. A page needs a session cookie (else: the sign-in form); an action
// (any method but GET/HEAD) needs the cookie, the session's CSRF token (a form field or the x-csrf-token
// header) and a request that says it comes from this origin (Origin, else Referer; Sec-Fetch-Site when the
// browser sends it). SameSite=Strict already keeps the cookie off requests other sites start; the token and
// the origin check hold even where SameSite does not (an old browser, a sibling subdomain).

import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { StratusError } from '../../core/errors.js';
import { holdSession, sameToken, type SessionStore } from './sessions.js';

export const SESSION_COOKIE = 'stratus_session';
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** https when the request came over TLS or Stratus is published under an https:// URL (behind a proxy). */
export const isHttps = (req: Request, publicUrl: string | undefined) => req.secure || (publicUrl?.startsWith('https:') ?? false);

export function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

/** The origins this dashboard is served under: the request's own host, and the public URL's. */
function ownOrigins(req: Request, publicUrl: string | undefined): string[] {
  const own = [`${req.protocol}://${req.get('host') ?? ''}`];
  if (publicUrl) own.push(new URL(publicUrl).origin);
  return own;
}

/** Refuses a state-changing request another site may have started (used for sign-in too). */
export function checkOrigin(req: Request, publicUrl: string | undefined): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw csrf(`the browser says this request came from another site (Sec-Fetch-Site: ${String(site)})`);
  const origin = req.headers.origin ?? refererOrigin(req.headers.referer);
  if (!origin) throw csrf('the request names no Origin (nor Referer): a dashboard action comes from a dashboard page');
  if (!ownOrigins(req, publicUrl).includes(origin)) throw csrf(`the request comes from ${origin}, not from this dashboard`);
}

function refererOrigin(referer: string | undefined): string | undefined {
  if (!referer) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return undefined;
  }
}

const csrf = (why: string) => new StratusError('CSRF_REFUSED', `${why}; reload the dashboard page and try again`);

/** Wants HTML (a browser navigating) rather than JSON (the dashboard's own fetch, or a program). */
export const wantsHtml = (req: Request) => (req.get('accept') ?? '').includes('text/html');

export function requireSession(sessions: SessionStore, publicUrl: string | undefined): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const id = readCookie(req, SESSION_COOKIE);
    const session = await sessions.get(id);
    if (!session || id === undefined) {
      if ((req.method === 'GET' || req.method === 'HEAD') && wantsHtml(req)) {
        return res.redirect(303, `/ui/login?next=${encodeURIComponent(req.originalUrl)}`);
      }
      return next(new StratusError('UNAUTHORIZED', 'sign in to the dashboard first (/ui/login): its pages and actions need the session cookie'));
    }
    holdSession(res, sessions, id, session);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      try {
        checkOrigin(req, publicUrl);
        const body = req.body as Record<string, unknown> | undefined;
        const token = req.get(CSRF_HEADER) ?? (typeof body?.[CSRF_FIELD] === 'string' ? body[CSRF_FIELD] : undefined);
        if (typeof token !== 'string' || !sameToken(token, session.csrf)) throw csrf('the form carries no valid CSRF token');
      } catch (err) {
        return next(err);
      }
    }
    next();
  };
}

/**
 * Headers every /ui answer carries: no framing, no inline script, nothing cached, no referrer leaving.
 * Scripts and styles only from /ui/assets/, not 'self': /fn/NAME on this origin serves anyone's content
 * (sandboxed as a page, but a <script src> takes no notice of that), so an injected tag could otherwise
 * load a function's script with the dashboard's standing.
 */
export const securityHeaders: RequestHandler = (req, res, next) => {
  const assets = `${req.protocol}://${req.get('host') ?? ''}/ui/assets/`;
  res.setHeader('content-security-policy', `default-src 'none'; script-src ${assets}; style-src ${assets}; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'`);
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'same-origin');
  res.setHeader('cache-control', 'no-store');
  next();
};
