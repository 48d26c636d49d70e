// Dashboard sessions in this process's memory (sessions.ts): for the memory store, where there is one
// process and nothing outlives it. A restart asks for the admin key again. The map's order is the order of
// last use, so the least recently used session is the first one evicted when `max` are kept.

import type { Clock } from '../lifecycle.js';
import { DEFAULT_SESSION_LIMITS, newCsrfToken, newSessionId, plausibleId, sessionKey, type Flash, type Session, type SessionLimits, type SessionStore } from './sessions.js';

interface Kept {
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
  flash: Flash | null;
}

const SWEEP_EVERY_MS = 60_000;

export class MemorySessions implements SessionStore {
  readonly #sessions = new Map<string, Kept>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly clock: Clock,
    readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {
    this.#timer = setInterval(() => this.#sweep(), SWEEP_EVERY_MS).unref();
  }

  async create(): Promise<{ id: string; session: Session }> {
    const id = newSessionId();
    const now = this.clock.now();
    const kept: Kept = { csrf: newCsrfToken(), createdAt: now, lastSeenAt: now, flash: null };
    if (this.#sessions.size >= this.limits.max) this.#sessions.delete(this.#sessions.keys().next().value!);
    this.#sessions.set(sessionKey(id), kept);
    return { id, session: view(kept) };
  }

  async get(id: string | undefined): Promise<Session | null> {
    const found = this.#live(id);
    if (!found) return null;
    const [key, kept] = found;
    kept.lastSeenAt = this.clock.now();
    // Re-inserted: the map stays in order of last use, least recent first, for eviction.
    this.#sessions.delete(key);
    this.#sessions.set(key, kept);
    return view(kept);
  }

  async setFlash(id: string, flash: Flash): Promise<boolean> {
    const found = this.#live(id);
    if (found) found[1].flash = { ...flash };
    return found !== null;
  }

  async takeFlash(id: string, flash: Flash): Promise<boolean> {
    const kept = this.#live(id)?.[1];
    if (!kept?.flash || !sameFlash(kept.flash, flash)) return false;
    kept.flash = null;
    return true;
  }

  async delete(id: string | undefined): Promise<void> {
    if (plausibleId(id)) this.#sessions.delete(sessionKey(id));
  }

  get size(): number {
    return this.#sessions.size;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#sessions.clear();
  }

  /** The kept session of `id` if it has not expired (an expired one is dropped). */
  #live(id: string | undefined): [string, Kept] | null {
    if (!plausibleId(id)) return null;
    const key = sessionKey(id);
    const kept = this.#sessions.get(key);
    if (!kept) return null;
    if (this.#expired(kept, this.clock.now())) {
      this.#sessions.delete(key);
      return null;
    }
    return [key, kept];
  }

  #expired(s: Kept, now: number): boolean {
    return now - s.lastSeenAt > this.limits.idleMs || now - s.createdAt > this.limits.maxAgeMs;
  }

  #sweep(): void {
    const now = this.clock.now();
    for (const [k, s] of this.#sessions) if (this.#expired(s, now)) this.#sessions.delete(k);
  }
}

/** A copy: what a caller does with it does not change the kept session (as with one read from Redis). */
const view = (k: Kept): Session => ({ csrf: k.csrf, createdAt: k.createdAt, flash: k.flash ? { ...k.flash } : null });

export const sameFlash = (a: Flash, b: Flash): boolean => a.kind === b.kind && a.text === b.text;
