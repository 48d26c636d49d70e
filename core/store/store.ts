// The Store seam: all platform metadata (functions, versions, builds, build logs). Redis in production
// (redis.ts), an in-memory twin for unit tests and for running without Redis (memory.ts). Both must
// behave the same; test/unit/store.contract.ts runs one suite against each.

import type { BuildRecord, FunctionRecord, VersionRecord } from '../types.js';

export interface Store {
  readonly kind: 'redis' | 'memory';

  getFunction(name: string): Promise<FunctionRecord | null>;
  listFunctions(): Promise<FunctionRecord[]>;
  putFunction(fn: FunctionRecord): Promise<void>;
  /** Removes the function with its versions, builds and build logs. Returns false if it did not exist. */
  deleteFunction(name: string): Promise<boolean>;

  /** Atomically hands out the next version number of a function (1, 2, 3 …; never reused, even after delete). */
  nextVersion(name: string): Promise<number>;
  putVersion(v: VersionRecord): Promise<void>;
  getVersion(name: string, version: number): Promise<VersionRecord | null>;
  listVersions(name: string): Promise<VersionRecord[]>;

  putBuild(b: BuildRecord): Promise<void>;
  getBuild(id: string): Promise<BuildRecord | null>;
  /** Builds not yet succeeded or failed: what a restarted platform must pick up again. */
  listUnfinishedBuilds(): Promise<BuildRecord[]>;
  appendBuildLog(id: string, text: string): Promise<void>;
  /** The build log from a byte offset on, so a follower can poll for what is new. */
  readBuildLog(id: string, fromOffset?: number): Promise<{ text: string; nextOffset: number }>;

  /**
   * Subscribe to changes of a function (update, delete), from this or another replica. `null` means
   * notices may have been missed (the subscription was re-established): re-read everything you cache.
   * Returns an unsubscribe.
   */
  watchFunctions(onChange: (name: string | null) => void): () => void;

  close(): Promise<void>;
}
