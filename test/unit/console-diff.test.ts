// The console's diff page (gateway/ui/console/diff-page.ts) over two versions a stranger wrote: one budget for
// the whole page, so files made to be costly (many lines that never match, many such files) are named rather
// than compared; and a listing cut short says the diff is incomplete.

import { describe, expect, it } from 'vitest';
import type { SourceFile, SourceFiles } from '../../control/functions/version-sources.js';
import { diffBody } from '../../gateway/ui/console/diff-page.js';

const version = (v: number, files: SourceFile[], truncated = false): SourceFiles => ({ function: 'f', version: v, sourceName: 'app.zip', singleFile: null, files, truncated });
const file = (path: string, text: string): SourceFile => ({ path, bytes: Buffer.byteLength(text), text });

describe('the diff page', () => {
  it('compares small changes line by line', () => {
    const out = diffBody(version(1, [file('index.js', 'a\nb\nc\n')]), version(2, [file('index.js', 'a\nB\nc\n')])).toString();
    expect(out).toContain('class="diff-changed"');
    expect(out).not.toContain('Not compared');
  });

  it('stays bounded on files made to be costly: the page names what it does not compare', () => {
    // 8 files of ~256 KiB on each side whose lines never match: ~2 million rows if drawn.
    const left = Array.from({ length: 8 }, (_, i) => file(`f${i}.js`, '\n'.repeat(262_000)));
    const right = Array.from({ length: 8 }, (_, i) => file(`f${i}.js`, 'a\n'.repeat(131_000)));
    const out = diffBody(version(1, left), version(2, right)).toString();
    expect(out.length).toBeLessThan(10_000_000); // was ~245 million characters
    expect(out.match(/Not compared: too large for one page/g)?.length).toBe(8);
    // Many medium files: the budget spans the page, not each file.
    const many = (v: number, line: (i: number, k: number) => string) => version(v, Array.from({ length: 200 }, (_, i) => file(`m${i}.js`, Array.from({ length: 2000 }, (_, k) => line(i, k)).join('\n'))));
    const page = diffBody(many(1, (i, k) => `left ${i} ${k}`), many(2, (i, k) => `right ${i} ${k}`)).toString();
    expect(page.match(/<tr class="diff-/g)?.length ?? 0).toBeLessThanOrEqual(20_000);
    expect(page).toContain('Not compared: too large for one page');
  });

  it('says the diff is incomplete when a version lists more files than the console shows', () => {
    const out = diffBody(version(1, [file('a.js', '1\n')], true), version(2, [file('a.js', '2\n')])).toString();
    expect(out).toMatch(/Incomplete: v1 has more files than the console lists/);
  });
});
