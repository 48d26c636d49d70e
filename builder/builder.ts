// The Builder seam: takes an uploaded source, checks and packs it into an artifact and (with Docker)
// an image pushed to the registry, and records status, timings and logs in the Store.

import type { BuildRequest } from '../core/types.js';

/** What prepare() needs of an upload: everything but the version, which is only handed out once it passed. */
export type UploadToPrepare = Pick<BuildRequest, 'buildId' | 'config' | 'sourcePath' | 'sourceName'>;

export interface Builder {
  /** The platform whose builds this builder runs: recorded as BuildRecord.builtBy (absent: builds carry none). */
  readonly platformId?: string;
  /**
   * Unpack and check an upload while its request is still open, before anything is recorded: a bad
   * archive (BAD_ARCHIVE, 422) or a handler whose file is missing (INVALID_CONFIG, 400) rejects here, so
   * the caller answers 4xx and the function is left as it was. The unpacked tree is kept for submit().
   */
  prepare(upload: UploadToPrepare): Promise<void>;
  /** Forget a prepared upload that will not be submitted (its records could not be written). */
  discard(buildId: string): Promise<void>;
  /** Queue a build and return at once; progress is visible through the Store (build record + log). */
  submit(request: BuildRequest): Promise<void>;
  /** Re-queue builds a crash or restart left unfinished, so none stays `building` forever. */
  recover(): Promise<void>;
  /** Remove a function's images from the registry and its artifacts from disk. */
  purge(functionName: string): Promise<void>;
  close(): Promise<void>;
}
