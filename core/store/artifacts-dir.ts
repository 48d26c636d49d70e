// The ArtifactStore in a directory of this process's state dir: for the in-memory store, where there is one
// process and so one disk. A key is one file (its name the key, escaped); a TTL is kept beside it and an
// expired entry is gone when it is next read. Writes go through a temporary file and a rename, so a reader
// sees the old bytes or the new ones, never half.

import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactStore } from '../ports/artifact-store.js';

export class DirArtifactStore implements ArtifactStore {
  constructor(private readonly dir: string, private readonly now: () => number = Date.now) {}

  #file(key: string): string {
    if (key === '') throw new Error('an artifact key is not empty');
    // Escaped to one segment with no "." at all: nothing climbs out, and no key's file ends as another's ".expires"/".tmp".
    return path.join(this.dir, encodeURIComponent(key).replaceAll('.', '%2E'));
  }

  async put(key: string, body: Buffer, opts: { ttlMs?: number } = {}): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    const file = this.#file(key);
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    await fsp.writeFile(tmp, body);
    if (opts.ttlMs !== undefined) await fsp.writeFile(`${file}.expires`, String(this.now() + opts.ttlMs));
    else await fsp.rm(`${file}.expires`, { force: true });
    await fsp.rename(tmp, file);
  }

  async get(key: string): Promise<Buffer | null> {
    const file = this.#file(key);
    const expires = await fsp.readFile(`${file}.expires`, 'utf8').catch(() => null);
    if (expires !== null && Number(expires) <= this.now()) {
      await this.delete(key);
      return null;
    }
    return fsp.readFile(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
  }

  async delete(key: string): Promise<void> {
    const file = this.#file(key);
    await fsp.rm(file, { force: true });
    await fsp.rm(`${file}.expires`, { force: true });
  }
}
