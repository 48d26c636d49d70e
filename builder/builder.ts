// The Builder seam: takes an uploaded source, checks and packs it into an artifact and (with Docker)
// an image pushed to the registry, and records status, timings and logs in the Store.

import type { BuildRequest } from '../core/types.js';

export interface Builder {
  /** Queue a build and return at once; progress is visible through the Store (build record + log). */
  submit(request: BuildRequest): Promise<void>;
  /** Re-queue builds a crash or restart left unfinished, so none stays `building` forever. */
  recover(): Promise<void>;
  /** Remove a function's images from the registry and its artifacts from disk. */
  purge(functionName: string): Promise<void>;
  close(): Promise<void>;
}
