// Dashboard sessions: the admin key is exchanged once, at sign-in, for a random session id that the
// browser keeps in an HttpOnly cookie. The sessions are kept by the store (core/store/sessions.ts): in Redis
// when the store is Redis, so that behind a balancer every replica knows a session another replica made (a
// sign-in, an action's flash, a sign-out hold for the platform); in this process's memory otherwise. Only a
// hash of each id is kept, so a heap or a Redis dump holds no cookie that works, and a stolen cookie dies
// with its idle timeout or max age. Each session has its own CSRF token, checked on every action.
//
// A request's session (guard.ts puts it on res.locals): the session as read, and the store and id an
// action's flash is written through — before its redirect leaves, as the next page may be another replica's.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { Response } from 'express';
import type { Flash, Session, SessionStore } from '../../core/store/sessions.js';

export type { Flash, Session, SessionLimits, SessionStore } from '../../core/store/sessions.js';

/** Where the guard leaves the request's session id and store, for flashes. */
interface SessionRef {
  sessions: SessionStore;
  id: string;
}

export function holdSession(res: Response, sessions: SessionStore, id: string, session: Session): void {
  res.locals.uiSession = session;
  res.locals.uiSessionRef = { sessions, id } satisfies SessionRef;
}

/** Keeps `flash` for the next page, in the store, before the caller answers (its redirect). */
export async function setFlash(res: Response, flash: Flash): Promise<void> {
  const ref = res.locals.uiSessionRef as SessionRef | undefined;
  if (!ref) return; // no session (a page before sign-in): no next page to tell
  await ref.sessions.setFlash(ref.id, flash);
}

/**
 * The flash the page being answered shows: the one the session held when read, taken from the store so
 * no other page (another tab, another replica) shows it too. Null when there is none, or another page
 * took it first.
 */
export async function takeFlash(res: Response): Promise<Flash | null> {
  const ref = res.locals.uiSessionRef as SessionRef | undefined;
  const session = res.locals.uiSession as Session | undefined;
  const flash = session?.flash ?? null;
  if (!ref || !flash) return null;
  session!.flash = null; // shown once, even if this answer renders a second page
  return (await ref.sessions.takeFlash(ref.id, flash)) ? flash : null;
}

/** Constant-time comparison of two tokens (hashed first, so their lengths do not show either). */
export function sameToken(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}
