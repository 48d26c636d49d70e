// Makes sure an image is present before a container is created from it: pulls it (from the registry its
// tag names) when missing, and remembers what is known present so a warm path costs no API call.
// Concurrent starts of one missing image share a single pull.

import type Docker from 'dockerode';
import type { Logger } from '../../core/log.js';

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

export class ImageCache {
  readonly #present = new Set<string>();
  readonly #pulls = new Map<string, Promise<void>>();

  constructor(
    private readonly docker: Docker,
    private readonly log: Logger,
  ) {}

  /**
   * Resolves once the image is present locally; rejects with the pull's own error. Takes no abort
   * signal: the pull is shared, and one caller giving up must not fail the others' starts.
   */
  ensure(image: string): Promise<void> {
    if (this.#present.has(image)) return Promise.resolve();
    let pending = this.#pulls.get(image);
    if (!pending) {
      pending = this.#ensure(image).finally(() => this.#pulls.delete(image));
      this.#pulls.set(image, pending);
    }
    return pending;
  }

  /** Forget an image (e.g. a container create said "No such image" after someone removed it). */
  forget(image: string): void {
    this.#present.delete(image);
  }

  async #ensure(image: string): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
      this.#present.add(image);
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    const started = Date.now();
    this.log.info('pulling image', { image });
    const stream = await this.docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      // A pull answers 200 and then reports failures (e.g. "manifest unknown") as progress events:
      // those must fail the pull too, not only a broken stream.
      this.docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string }>) => {
        const failed = err ?? output.find((o) => o.error);
        if (!failed) return resolve();
        reject(failed instanceof Error ? failed : new Error(failed.error));
      });
    });
    this.#present.add(image);
    this.log.info('pulled image', { image, ms: Date.now() - started });
  }
}
