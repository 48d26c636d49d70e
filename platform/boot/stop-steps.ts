// The platform's stop, one named step after another. A step that takes long is said while it lasts
// (every `warnEveryMs`, naming the step), so a stop that hangs names what it waits for in the log instead
// of leaving a silent process; `current()` tells the entry point what to name if it gives up.

import type { Logger } from '../../core/log.js';

export type StopStep = readonly [name: string, run: () => unknown];

export class StopSteps {
  #current: string | null = null;

  constructor(
    private readonly logger: Pick<Logger, 'debug' | 'warn'>,
    private readonly warnEveryMs = 5_000,
  ) {}

  /** The step under way, or null when none is. */
  current(): string | null {
    return this.#current;
  }

  async run(steps: readonly StopStep[]): Promise<void> {
    for (const [name, run] of steps) {
      this.#current = name;
      this.logger.debug(`stopping: ${name}`);
      const startedAt = Date.now();
      const watch = setInterval(() => this.logger.warn(`still stopping: ${name} (${Math.round((Date.now() - startedAt) / 1000)} s)`), this.warnEveryMs);
      watch.unref();
      try {
        await run();
      } finally {
        clearInterval(watch);
      }
    }
    this.#current = null;
  }
}
