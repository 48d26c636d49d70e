// An ArtifactStore in a directory: for tests and a single host. Keys are hashed into file names, so no key
// reaches a path; a put writes a temporary file and renames it, so a reader never sees half a value.
// ttlMs is honoured on read (an expired value reads as none and is removed).

import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ArtifactStore } from '../ports/artifact-store.js';

export class DirArtifactStore implements ArtifactStore {
  constructor(private readonly dir: string) {}

  #file(key: string): string {
    return path.join(this.dir, createHash('sha256').update(key).digest('hex'));
  }

  async put(key: string, body: Buffer, opts: { ttlMs?: number } = {}): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    const file = this.#file(key);
    const tmp = `${file}.${randomUUID()}.tmp`;
    const header = Buffer.alloc(8);
    header.writeDoubleBE(opts.ttlMs === undefined ? 0 : Date.now() + opts.ttlMs);
    await fs.writeFile(tmp, Buffer.concat([header, body]));
    await fs.rename(tmp, file);
  }

  async get(key: string): Promise<Buffer | null> {
    const file = this.#file(key);
    let raw: Buffer;
    try {
      raw = await fs.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const expiresAt = raw.readDoubleBE(0);
    if (expiresAt !== 0 && expiresAt < Date.now()) {
      await fs.rm(file, { force: true });
      return null;
    }
    return raw.subarray(8);
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.#file(key), { force: true });
  }
}
