// Bytes any replica can read: uploads waiting for a build, a version's code for stems. One key space, one store per platform.
export interface ArtifactStore {
  /** Stores `body` under `key` (replacing); `ttlMs`: forgotten after that long (an upload nobody builds). */
  put(key: string, body: Buffer, opts?: { ttlMs?: number }): Promise<void>;
  /** The bytes under `key`, or null when there are none. */
  get(key: string): Promise<Buffer | null>;
  delete(key: string): Promise<void>;
}
