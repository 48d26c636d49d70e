// The Redis store's change notices (store.ts watchFunctions). Writes publish the function's name on
// <prefix>function-changes; watchers listen on a second connection, because a subscribed connection can
// issue no other command. Pub/sub does not replay what was published while that connection was down, so
// after a reconnect the watchers are told null: re-read everything.
//
// Read-your-writes on this replica: once a write has published its notice, settled() publishes a token on
// this store's own sync channel and waits for it to come back on the subscription. Redis sends one
// connection its messages in the order it ran the PUBLISHes, so when the token is back the write's notice
// has been dispatched; settled() then waits for what the watchers returned for it (and for every notice
// before it). The notice itself reaches the watchers once, by the subscription, in the order every replica
// sees: a write's own replica hears it neither twice nor ahead of a change published before it.

import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

type Watcher = (name: string | null) => unknown;

export class RedisWatch {
  readonly #watchers = new Set<Watcher>();
  /** What the watchers returned for notices dispatched and not yet settled. */
  readonly #dispatched = new Set<Promise<unknown>>();
  /** settled() calls waiting for their token to come back: token -> resolve. */
  readonly #tokens = new Map<string, () => void>();
  /** This store's own channel: no other replica waits for these tokens. */
  readonly #sync: string;
  #sub: Redis | undefined;
  #subscribed: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly channel: string,
  ) {
    this.#sync = `${channel}:sync:${randomUUID()}`;
  }

  add(onChange: Watcher): () => void {
    this.#watchers.add(onChange);
    if (!this.#sub && !this.#closed) this.#subscribe();
    return () => this.#watchers.delete(onChange);
  }

  /** Resolves once the subscription is active: changes published before then are not seen. */
  async watching(): Promise<void> {
    await this.#subscribed;
  }

  /**
   * Resolves once this replica's watchers have been told of every change published before the call and
   * what they returned has settled. At once when nobody watches, or while the subscription is down (the
   * null told on its return makes every view re-read). Never throws: the write it follows is stored.
   */
  async settled(): Promise<void> {
    if (!this.#sub || this.#watchers.size === 0) return;
    await this.#subscribed;
    if (this.#sub.status !== 'ready') return;
    const token = randomUUID();
    const back = new Promise<void>((resolve) => this.#tokens.set(token, resolve));
    try {
      await this.redis.publish(this.#sync, token);
    } catch {
      this.#tokens.delete(token);
      return;
    }
    await back;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watchers.clear();
    this.#releaseTokens();
    await this.#sub?.quit();
  }

  #subscribe(): void {
    const sub = (this.#sub = this.redis.duplicate());
    sub.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.#dispatch(message);
      else if (channel === this.#sync) this.#tokenBack(message);
    });
    let readyBefore = false;
    sub.on('ready', () => {
      if (readyBefore) this.#dispatch(null);
      readyBefore = true;
    });
    // A token in flight when the connection drops never comes back: its writer must not wait for it.
    sub.on('close', () => this.#releaseTokens());
    sub.on('error', () => {}); // ioredis reconnects and resubscribes by itself; errors surface on the main connection
    this.#subscribed = sub.subscribe(this.channel, this.#sync).catch(() => {});
  }

  #dispatch(name: string | null): void {
    const told = Promise.allSettled([...this.#watchers].map((w) => Promise.resolve().then(() => w(name))));
    this.#dispatched.add(told);
    void told.finally(() => this.#dispatched.delete(told));
  }

  #tokenBack(token: string): void {
    const resolve = this.#tokens.get(token);
    if (!resolve) return;
    this.#tokens.delete(token);
    void Promise.allSettled([...this.#dispatched]).then(() => resolve());
  }

  #releaseTokens(): void {
    for (const resolve of this.#tokens.values()) resolve();
    this.#tokens.clear();
  }
}
