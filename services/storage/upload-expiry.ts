// Removes multipart uploads left unfinished longer than STRATUS_S3_UPLOAD_EXPIRY_DAYS (S3's
// AbortIncompleteMultipartUpload, one rule for every bucket): once at start and then every `everyMs`. An
// abandoned upload's parts hold disk and quota and keep its bucket from being deleted; a client that comes
// back after the expiry gets NoSuchUpload and starts over, as with S3. Sweeps never overlap; close() stops
// the timer and waits for a sweep under way.

import type { Logger } from '../../core/log.js';
import type { Multipart } from './multipart.js';

/** How often the sweep runs: an upload outlives its expiry by at most this. */
export const SWEEP_EVERY_MS = 60 * 60 * 1000;

export class UploadExpiry {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly multipart: Multipart, private readonly log: Logger, private readonly everyMs = SWEEP_EVERY_MS) {}

  start(): void {
    void this.sweep();
    this.timer = setInterval(() => void this.sweep(), this.everyMs);
    this.timer.unref();
  }

  /** One sweep (or the one under way). */
  sweep(): Promise<void> {
    this.running ??= this.multipart
      .sweep()
      .then(
        (ids) => {
          if (ids.length > 0) this.log.info(`removed ${ids.length} multipart upload(s) left unfinished past STRATUS_S3_UPLOAD_EXPIRY_DAYS`, { uploadIds: ids.slice(0, 20) });
        },
        (err: unknown) => this.log.warn('sweeping expired multipart uploads failed; trying again at the next sweep', { err }),
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
