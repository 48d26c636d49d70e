// The throttle of wrong admin keys, one per process and shared by the two doors that take the key: the
// dashboard's sign-in and /v1's Bearer check (gateway/api/auth.ts), so a guesser gets the same few tries
// through either. It counts per client (client-address.ts), never overall: a cap for everyone together
// either refuses the right key when strangers flood it (the lock-out it replaced) or, if it let the right
// key through, still tells a guesser which key is right and so slows nobody. Against many addresses the
// key's length is the defence (a generated key has 256 bits; STRATUS_API_KEY at least 16 characters).
//
// A client with `maxFailures` wrong keys within `windowMs` of its first one is refused until that window
// ends, whatever key it sends: comparing its key then would answer "right" or "429", which is the very
// oracle the throttle closes. Its window does not grow with the refused tries, so a neighbour behind the
// same address waits at most one window.
//
// Memory is bounded: at most `maxClients` clients are remembered. Every entry lives exactly one window
// from its first failure, so the map (insertion order) is also expiry order: expired entries are dropped
// from its front as calls come (no timer to stop), and when full the oldest goes first — an attacker
// flooding the table with fresh addresses can only buy back tries it had on those addresses anyway.

import type { Clock } from '../../core/lifecycle.js';

export interface ThrottleLimits {
  /** Wrong keys a client may send within the window; the next call of theirs waits for its end. */
  maxFailures: number;
  windowMs: number;
  /** Clients remembered at most (each a few dozen bytes). */
  maxClients: number;
}

export const DEFAULT_THROTTLE_LIMITS: ThrottleLimits = { maxFailures: 10, windowMs: 60_000, maxClients: 10_000 };

interface Failures {
  count: number;
  /** When this client's window ends (its first failure + windowMs). */
  until: number;
}

export class AuthThrottle {
  readonly #clients = new Map<string, Failures>();

  constructor(
    private readonly clock: Clock,
    readonly limits: ThrottleLimits = DEFAULT_THROTTLE_LIMITS,
  ) {}

  /** Whole seconds this client waits before a key of theirs is looked at again; 0: go ahead. */
  retryAfter(client: string): number {
    const now = this.clock.now();
    this.#forgetExpired(now);
    const f = this.#clients.get(client);
    if (f === undefined || f.count < this.limits.maxFailures) return 0;
    return Math.max(1, Math.ceil((f.until - now) / 1000));
  }

  /** Counts one wrong key of this client. */
  failed(client: string): void {
    const now = this.clock.now();
    this.#forgetExpired(now);
    const f = this.#clients.get(client);
    if (f !== undefined) {
      f.count++;
      return;
    }
    if (this.#clients.size >= this.limits.maxClients) this.#clients.delete(this.#clients.keys().next().value!);
    this.#clients.set(client, { count: 1, until: now + this.limits.windowMs });
  }

  /** Clients remembered now (tests and the bound's proof). */
  get size(): number {
    return this.#clients.size;
  }

  /** Forgets everyone (nothing else to dispose of: there is no timer). */
  clear(): void {
    this.#clients.clear();
  }

  #forgetExpired(now: number): void {
    for (const [client, f] of this.#clients) {
      if (f.until > now) return;
      this.#clients.delete(client);
    }
  }
}
