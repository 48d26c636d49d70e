// Dashboard sessions, kept where the platform keeps its state: in Redis when the store is Redis, so that a
// user signed in on one replica is signed in on all of them behind a balancer (sessions-redis.ts), in this
// process's memory otherwise (sessions-memory.ts). One interface, two implementations; the dashboard asks
// the Store for the one that goes with it (Store.sessions), so the Redis one shares the store's connection.
//
// What both keep: only a hash of each session id (the cookie's value), never the id itself, so a heap or a
// Redis dump holds no cookie that works; the session's own CSRF token; and the one-shot flash message an
// action leaves for the next page, written before the action's redirect leaves (the next page may be served
// by another replica) and taken by the page that shows it.

import { createHash, randomBytes } from 'node:crypto';

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

export interface Session {
  csrf: string;
  createdAt: number;
  /** One message for the next page (an action's outcome after its redirect), as it was when the session was read. */
  flash: Flash | null;
}

export interface SessionLimits {
  /** A session unused this long is gone. */
  idleMs: number;
  /** A session is gone this long after sign-in, however much it is used. */
  maxAgeMs: number;
  /**
   * Sessions kept at most; the least recently used goes first. In memory: per process, exactly. On Redis:
   * for the platform (every replica's sign-ins together), "used" known to within sessionRefreshMs.
   */
  max: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 8 * 3600_000, maxAgeMs: 24 * 3600_000, max: 1000 };

export interface SessionStore {
  readonly limits: SessionLimits;
  /** A new session; returns its id (the cookie's value), never kept as such. */
  create(): Promise<{ id: string; session: Session }>;
  /** The live session of a cookie value, its idle timeout restarted; null when unknown, expired or signed out. */
  get(id: string | undefined): Promise<Session | null>;
  /** Keeps `flash` for the session's next page (replacing one not shown yet); false when the session is gone. */
  setFlash(id: string, flash: Flash): Promise<boolean>;
  /**
   * Removes `flash` from the session if it is still the one kept (a page is about to show it); true when this
   * call removed it. A page shows the flash only then, so two pages never both show one message, and a
   * newer flash set meanwhile is left for the next page.
   */
  takeFlash(id: string, flash: Flash): Promise<boolean>;
  /** Signs the session out, on every replica. */
  delete(id: string | undefined): Promise<void>;
  /** Stops its timers; a Redis one leaves the store's connection to the store. */
  close(): void;
}

/** How a cookie value is kept: its SHA-256, so that what is stored signs nobody in. */
export const sessionKey = (id: string): string => createHash('sha256').update(id).digest('base64url');

/** A cookie value we never made (empty, or longer than any id we hand out) is not even hashed. */
export const plausibleId = (id: string | undefined): id is string => id !== undefined && id.length > 0 && id.length <= 100;

export const newSessionId = (): string => randomBytes(32).toString('base64url');
export const newCsrfToken = (): string => randomBytes(32).toString('base64url');

/**
 * How stale a session's last-use mark may be before a read refreshes it (in Redis: a write restarting its
 * TTL). Reads within it write nothing, so a page costs one Redis read; the idle timeout is then honoured to
 * within this much (a session may go up to this much earlier than idleMs after its last use).
 */
export const sessionRefreshMs = (limits: SessionLimits): number => Math.min(60_000, Math.floor(limits.idleMs / 8));
