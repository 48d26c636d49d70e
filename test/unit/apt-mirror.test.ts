// The offline base image takes its Debian mirror from the machine's own apt configuration, or leaves it to
// debootstrap's default: runtime-images/base/apt-mirror.sh on fixture apt trees (deb822 and one-line, in
// apt's order, security archives and disabled sources skipped). And no script, test or fixture names a
// real package host (issue 10, item 3): mirrors come from the machine, test hosts end in .test/.example.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../core/paths.js';

const SCRIPT = path.join(PROJECT_ROOT, 'runtime-images/base/apt-mirror.sh');
const FIXTURES = path.join(PROJECT_ROOT, 'test/fixtures/apt');
const mirrorOf = (fixture: string) => execFileSync('bash', [SCRIPT, path.join(FIXTURES, fixture)], { encoding: 'utf8' }).trim();

describe('apt-mirror.sh', () => {
  it.each([
    ['deb822', 'http://mirror.example/debian', 'a deb822 .sources file: the security stanza before it is skipped, the trailing slash dropped'],
    ['one-line', 'https://apt.internal.test/debian', 'sources.list: comments, deb-src and -security lines skipped, [options] read past'],
    ['mixed', 'https://first.example.test/debian', "apt's order: sources.list, then sources.list.d by name; a non-Debian archive, a disabled stanza and a .disabled file skipped"],
    ['not-debian', '', 'no Debian archive (an Ubuntu host): nothing, so debootstrap uses its default'],
    ['none', '', 'no apt sources at all: nothing'],
  ])('%s → %s (%s)', (fixture, mirror) => {
    expect(mirrorOf(fixture)).toBe(mirror);
  });

  it('is what build-base.sh uses, and the recipe names no mirror of its own', () => {
    const recipe = fs.readFileSync(path.join(PROJECT_ROOT, 'runtime-images/base/build-base.sh'), 'utf8');
    expect(recipe).toContain('apt-mirror.sh');
    expect(recipe).not.toMatch(/[a-z]+:\/\/[a-z0-9.-]+/i);
  });
});

/** Hosts packages are fetched from: none may be written into scripts, tests or fixtures. */
const PACKAGE_HOSTS = /(?<![\w.-])(deb\.debian\.org|security\.debian\.org|archive\.ubuntu\.com|registry\.npmjs\.org|registry\.yarnpkg\.com|pypi\.org|files\.pythonhosted\.org|github\.com|codeload\.github\.com|objects\.githubusercontent\.com|nodejs\.org|dl-cdn\.alpinelinux\.org)\b/;

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : filesUnder(p);
    return e.name === 'package-lock.json' ? [] : [p]; // a lockfile's resolved URLs are npm's own record
  });
}

describe('package hosts', () => {
  it('no script, test, fixture or runtime image names one', () => {
    const self = path.join(PROJECT_ROOT, 'test/unit/apt-mirror.test.ts');
    const offenders: string[] = [];
    for (const dir of ['scripts', 'test', 'runtime-images', '.ci', 'bench']) {
      for (const file of filesUnder(path.join(PROJECT_ROOT, dir))) {
        if (file === self) continue;
        const lines = fs.readFileSync(file, 'utf8').split('\n');
        lines.forEach((line, i) => PACKAGE_HOSTS.test(line) && offenders.push(`${path.relative(PROJECT_ROOT, file)}:${i + 1}: ${line.trim().slice(0, 120)}`));
      }
    }
    expect(offenders).toEqual([]);
  });
});
