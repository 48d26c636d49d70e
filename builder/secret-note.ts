// An upload that holds files looking like secrets (core/secret-files.ts: .env, .npmrc, *.pem, .aws/, …)
// is noted in the build log, by name: they go into the image, which anyone who can pull from the
// registry can read. The builder does not refuse them: `stratus deploy` already leaves them out unless
// a `!` line in .stratusignore sends one on purpose, and a git push or an API upload may carry one on
// purpose too (a CA bundle in a .pem); only the uploader can tell, so the log tells them.

import fsp from 'node:fs/promises';
import path from 'node:path';
import { secretMatcher } from '../core/secret-files.js';

/** Paths named in the note; the rest are counted. */
const NAMED = 10;

/**
 * The secret-looking paths of an unpacked upload ("/"-separated, a directory with a trailing "/"), not
 * looking inside node_modules (a package's own test keys and CA bundles are published code). The walk
 * reads names and types only, and stops after `maxEntries` entries (extraction bounded the tree already).
 */
export async function secretPathsIn(root: string, maxEntries: number): Promise<string[]> {
  const matcher = secretMatcher();
  const found: string[] = [];
  const pending = [''];
  let seen = 0;
  while (pending.length > 0) {
    const rel = pending.pop()!;
    const dirents = await fsp.readdir(path.join(root, rel), { withFileTypes: true });
    for (const d of dirents) {
      if (++seen > maxEntries) return found.sort();
      const name = rel === '' ? d.name : `${rel}/${d.name}`;
      const asPath = d.isDirectory() ? `${name}/` : name;
      if (matcher.ignores(asPath)) found.push(asPath);
      else if (d.isDirectory() && d.name !== 'node_modules') pending.push(name);
    }
  }
  return found.sort();
}

/** The build log's line for them, or null when there are none. */
export function secretNote(paths: string[]): string | null {
  if (paths.length === 0) return null;
  const more = paths.length > NAMED ? ` and ${paths.length - NAMED} more` : '';
  return (
    `note: the upload holds ${paths.length === 1 ? 'a path that looks like a secret' : `${paths.length} paths that look like secrets`}, now in the image: ` +
    `${paths.slice(0, NAMED).join(', ')}${more} — \`stratus deploy\` leaves such files out unless .stratusignore sends them with a ! line`
  );
}
