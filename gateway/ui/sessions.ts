// Dashboard sessions: the admin key is exchanged once, at sign-in, for a random session id that the
// browser keeps in an HttpOnly cookie. Sessions live in this process's memory (a restart or another replica
// asks for the key again): the dashboard holds no state another replica would need, and a stolen cookie
// dies with the process or its idle timeout. Only a hash of each id is kept, so a heap dump holds no
// cookie that works. Each session has its own CSRF token, checked on every action.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/lifecycle.js';

export interface Session {
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
  /** One message for the next page (an action's outcome after its redirect). */
  flash: { kind: 'ok' | 'error'; text: string } | null;
}

export interface SessionLimits {
  /** A session unused this long is gone. */
  idleMs: number;
  /** A session is gone this long after sign-in, however much it is used. */
  maxAgeMs: number;
  /** Sessions kept at most; the least recently used goes first. */
  max: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 8 * 3600_000, maxAgeMs: 24 * 3600_000, max: 1000 };

const hash = (id: string) => createHash('sha256').update(id).digest('base64url');

export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly clock: Clock,
    readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {
    this.#timer = setInterval(() => this.#sweep(), 60_000).unref();
  }

  /** A new session; returns its id (the cookie's value), never kept as such. */
  create(): { id: string; session: Session } {
    const id = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    const session: Session = { csrf: randomBytes(32).toString('base64url'), createdAt: now, lastSeenAt: now, flash: null };
    if (this.#sessions.size >= this.limits.max) this.#sessions.delete(this.#sessions.keys().next().value!);
    this.#sessions.set(hash(id), session);
    return { id, session };
  }

  /** The live session of a cookie value, refreshed; null when unknown or expired. */
  get(id: string | undefined): Session | null {
    if (!id || id.length > 100) return null;
    const key = hash(id);
    const s = this.#sessions.get(key);
    if (!s) return null;
    const now = this.clock.now();
    if (this.#expired(s, now)) {
      this.#sessions.delete(key);
      return null;
    }
    s.lastSeenAt = now;
    // Map order is insertion order: re-inserting keeps the least recently used first, for eviction.
    this.#sessions.delete(key);
    this.#sessions.set(key, s);
    return s;
  }

  delete(id: string | undefined): void {
    if (id) this.#sessions.delete(hash(id));
  }

  get size(): number {
    return this.#sessions.size;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#sessions.clear();
  }

  #expired(s: Session, now: number): boolean {
    return now - s.lastSeenAt > this.limits.idleMs || now - s.createdAt > this.limits.maxAgeMs;
  }

  #sweep(): void {
    const now = this.clock.now();
    for (const [k, s] of this.#sessions) if (this.#expired(s, now)) this.#sessions.delete(k);
  }
}

/** Constant-time comparison of two tokens (hashed first, so their lengths do not show either). */
export function sameToken(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}
