// Work on one key at a time, in the order it was asked for, while other keys go on in parallel: a re-read of
// a function that started later must never finish first and overwrite a newer view with an older one. Used
// by the views that follow the store's change notices (the route cache, served versions). A failed turn
// does not stop the next one; its caller sees the failure.

export class KeyedTurns {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `work` after every earlier turn of `key` has ended; resolves or rejects with it. */
  take(key: string, work: () => Promise<void>): Promise<void> {
    const next = (this.#tails.get(key) ?? Promise.resolve()).catch(() => {}).then(work);
    this.#tails.set(key, next);
    void next
      .finally(() => {
        if (this.#tails.get(key) === next) this.#tails.delete(key);
      })
      .catch(() => {});
    return next;
  }

  /** Resolves once every turn asked for so far has ended (a close waits for them). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#tails.values()]);
  }
}
