// A lifecycle base for long-lived components (scheduler, store, stem pool, backends): close() is safe
// to call any number of times and from concurrent callers; subclasses fill in doClose().

export abstract class Closeable {
  #closing: Promise<void> | undefined;

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  close(): Promise<void> {
    this.#closing ??= this.doClose();
    return this.#closing;
  }

  protected abstract doClose(): Promise<void>;
}

/** Clock seam so that timers and windows can be tested without sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
