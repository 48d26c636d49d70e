// Watching function changes on Redis: the store publishes a function's name on its change channel with
// every write (redis-keys.ts); watchers listen on a second connection, made when the first one watches,
// because a subscribed Redis connection can issue no other command.

import type { Redis } from 'ioredis';
import { Closeable } from '../lifecycle.js';

export class FunctionWatch extends Closeable {
  #subscriber: Redis | undefined;
  #subscribed: Promise<unknown> = Promise.resolve();
  readonly #watchers = new Set<(name: string | null) => void>();

  /** `redis` is the store's connection, duplicated (same options) for the subscription; not closed here. */
  constructor(private readonly redis: Redis, private readonly channel: string) {
    super();
  }

  /** Calls `onChange` with a function's name when it changes, or null when anything may have changed. */
  add(onChange: (name: string | null) => void): () => void {
    this.#watchers.add(onChange);
    if (!this.#subscriber && !this.closed) this.#subscribe();
    return () => this.#watchers.delete(onChange);
  }

  /** Resolves once the subscription is active: changes published before then are not seen. */
  async subscribed(): Promise<void> {
    await this.#subscribed;
  }

  #subscribe(): void {
    const sub = (this.#subscriber = this.redis.duplicate());
    sub.on('message', (channel: string, name: string) => {
      if (channel !== this.channel) return;
      for (const w of this.#watchers) w(name);
    });
    // Pub/sub does not replay what was published while the connection was down: after a reconnect,
    // tell watchers that anything may have changed.
    let readyBefore = false;
    sub.on('ready', () => {
      if (readyBefore) for (const w of this.#watchers) w(null);
      readyBefore = true;
    });
    sub.on('error', () => {}); // ioredis reconnects and resubscribes by itself; errors surface on the main connection
    this.#subscribed = sub.subscribe(this.channel).catch(() => {});
  }

  protected async doClose(): Promise<void> {
    this.#watchers.clear();
    await this.#subscriber?.quit();
  }
}
