// The builder's note on secret-looking files in an upload: found at any depth by core/secret-files.ts's
// rules (a directory such as .aws/ as one path), never inside node_modules, the walk bounded by the entry
// limit, and the note naming the first ten.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { secretNote, secretPathsIn } from '../../builder/secret-note.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-secret-note-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function write(files: string[]): Promise<void> {
  for (const f of files) {
    await fs.mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await fs.writeFile(path.join(dir, f), 'x');
  }
}

describe('secret-looking files in an upload', () => {
  it('are found at any depth, a directory as one path, not inside node_modules', async () => {
    await write(['index.js', '.env', '.env.example', 'a/b/.npmrc', '.aws/credentials', 'certs/server.key', 'id_ed25519.pub', 'node_modules/p/key.pem', 'lib/node_modules/q/.env']);
    expect(await secretPathsIn(dir, 1000)).toEqual(['.aws/', '.env', 'a/b/.npmrc', 'certs/server.key']);
  });

  it('stops at the entry limit', async () => {
    await write(['a.js', 'b.js', 'c.js', 'z.pem']);
    expect((await secretPathsIn(dir, 2)).length).toBeLessThanOrEqual(1);
  });

  it('say nothing when there are none, and name the first ten otherwise', () => {
    expect(secretNote([])).toBeNull();
    expect(secretNote(['.env'])).toMatch(/^note: the upload holds a path that looks like a secret, now in the image: \.env — /);
    const many = Array.from({ length: 12 }, (_, i) => `k${i}.pem`);
    expect(secretNote(many)).toContain('k9.pem and 2 more');
  });
});
