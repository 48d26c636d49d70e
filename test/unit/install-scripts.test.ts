// `npm install` stays quiet (issue 11, item 7): every dependency the lockfile says has an install script
// is covered by package.json's allowScripts — approved or denied after a look — so npm prints no
// "install scripts not yet covered" warning. A new dependency with a script fails here until reviewed.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const read = (file: string) => JSON.parse(readFileSync(fileURLToPath(new URL(`../../${file}`, import.meta.url)), 'utf8')) as Record<string, unknown>;

describe('dependency install scripts', () => {
  const pkg = read('package.json') as { allowScripts?: Record<string, boolean> };
  const lock = read('package-lock.json') as { packages: Record<string, { hasInstallScript?: boolean }> };
  const withScripts = Object.entries(lock.packages)
    .filter(([, p]) => p.hasInstallScript)
    .map(([where]) => where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length));

  it('are each approved or denied in package.json allowScripts', () => {
    expect(withScripts.length).toBeGreaterThan(0);
    const allow = pkg.allowScripts ?? {};
    // Name-only entries: the lockfile has no "resolved" URLs, so npm could not match a pinned one.
    expect(withScripts.filter((name) => typeof allow[name] !== 'boolean')).toEqual([]);
  });

  it('lists no package that no longer has one', () => {
    expect(Object.keys(pkg.allowScripts ?? {}).filter((name) => !withScripts.includes(name))).toEqual([]);
  });

  it('keeps the one the toolchain needs: esbuild (tsx, vitest)', () => {
    expect(pkg.allowScripts?.esbuild).toBe(true);
  });
});
