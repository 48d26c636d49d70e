// node scripts/list-stale-paths.mjs — lists the file paths comments name that no longer resolve: a path
// with a folder, or a Markdown name, that is no file, relative to the commenting file, the repository or a
// room; and a bare source file name that is not beside the file, with where such a file is now — outside
// test/, whose files name the file under test by its bare name. Files move between rooms; the comments that
// point at them are the first thing to rot. A listing for a person to judge (an example path or a config
// file pattern shows up too), not a gate.

import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const SKIP = new Set(['node_modules', 'dist', '.git']);
const rooms = fs.readdirSync(ROOT, { withFileTypes: true }).filter((e) => e.isDirectory() && !SKIP.has(e.name)).map((e) => e.name);

const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name) || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else files.push(path.relative(ROOT, p));
  }
})(ROOT);
const byName = new Map();
for (const f of files) byName.set(path.basename(f), [...(byName.get(path.basename(f)) ?? []), f]);
const exists = (rel) => fs.existsSync(path.join(ROOT, rel));

/** The comment text of one line: after `//` or `#`, or a block comment's line. */
function commentOf(line) {
  const t = line.trim();
  if (t.startsWith('*') || t.startsWith('/*')) return t;
  if (t.startsWith('#')) return t;
  const at = line.search(/(^|\s)\/\/\s/);
  return at >= 0 ? line.slice(at) : '';
}

const found = [];
for (const f of files.filter((x) => /\.(ts|mjs|js|sh)$/.test(x))) {
  fs.readFileSync(path.join(ROOT, f), 'utf8').split('\n').forEach((line, i) => {
    for (const [, ref] of commentOf(line).matchAll(/(?<![\w./@-])((?:\.{1,2}\/)?[A-Za-z0-9_][A-Za-z0-9_./-]*\.(?:ts|md|mjs))\b/g)) {
      const where = `${f}:${i + 1}`;
      if (ref.includes('/')) {
        const candidates = [path.join(path.dirname(f), ref), ref, ...rooms.map((r) => path.join(r, ref))];
        if (candidates.some(exists) || files.some((x) => x.endsWith(`/${ref}`))) continue;
        found.push(`${where}: ${ref} (no such file)`);
      } else if (!f.startsWith('test/') && !exists(path.join(path.dirname(f), ref))) {
        const now = byName.get(ref);
        found.push(`${where}: ${ref} ${now ? `(not beside it; now ${now.join(', ')})` : '(no such file)'}`);
      }
    }
  });
}
for (const line of found) console.log(line);
console.error(`${found.length} path(s) named in comments that do not resolve`);
