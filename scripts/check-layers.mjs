// npm run lint's third step: the rooms of the house and the direction of their imports (docs/architecture.md).
//
//   core ← {scheduler, builder} ← control ← gateway ← platform;   services/* ← gateway, platform
//
// A file may import only from its own room and the rooms below it (RULES); services never import each other;
// inside gateway/, http ← dataplane ← api ← ui ← the app. Type-only imports count too: a type is a
// dependency of the design even when the emitted JavaScript drops it. And no file takes part in an import
// circle, within a room or across rooms. Exit 1 with every offence listed; importable as checkLayers(root).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Each room and the rooms its files may import (besides their own). `services/*` stands for every service. */
export const RULES = {
  core: [],
  scheduler: ['core'],
  builder: ['core'],
  control: ['core', 'scheduler', 'builder'],
  'services/*': ['core'],
  'gateway/http': ['core'],
  'gateway/dataplane': ['core', 'scheduler', 'control', 'gateway/http'],
  // The native data plane (HAProxy: its config, runtime API, per-call lines, and the controller that programs it
  // from the scheduler's instances and the route table): beside the Node data plane, whose routes it follows.
  'gateway/native': ['core', 'scheduler', 'control', 'gateway/http', 'gateway/dataplane'],
  'gateway/api': ['core', 'scheduler', 'builder', 'control', 'services/*', 'gateway/http', 'gateway/dataplane'],
  'gateway/ui': ['core', 'scheduler', 'builder', 'control', 'services/*', 'gateway/http', 'gateway/dataplane', 'gateway/api'],
  gateway: ['core', 'scheduler', 'builder', 'control', 'services/*', 'gateway/http', 'gateway/native', 'gateway/dataplane', 'gateway/api', 'gateway/ui'],
  platform: ['core', 'scheduler', 'builder', 'control', 'services/*', 'gateway', 'gateway/http', 'gateway/native', 'gateway/dataplane', 'gateway/api', 'gateway/ui'],
  cli: ['core'],
};
/** Top-level folders whose files are checked; bench/, test/ and scripts/ may import anything. */
const CHECKED = ['core', 'scheduler', 'builder', 'control', 'services', 'gateway', 'platform', 'cli'];

/** The room a repository-relative path belongs to ('gateway/app.ts' → 'gateway'; 'services/git/x.ts' → 'services/git'). */
export function roomOf(rel) {
  const parts = rel.split('/');
  if (parts[0] === 'services' && parts.length > 2) return `services/${parts[1]}`;
  if (parts[0] === 'gateway' && parts.length > 2) return `gateway/${parts[1]}`;
  return parts[0];
}

function mayImport(from, to) {
  if (from === to) return true;
  const allowed = RULES[from.startsWith('services/') ? 'services/*' : from];
  if (!allowed) return false; // a room nobody declared: declare it in RULES and in docs/architecture.md
  return allowed.includes(to) || (to.startsWith('services/') && allowed.includes('services/*'));
}

function sourcesUnder(root) {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(p);
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(path.relative(root, p).split(path.sep).join('/'));
    }
  };
  for (const top of CHECKED) if (fs.existsSync(path.join(root, top))) walk(path.join(root, top));
  return out.sort();
}

/** Every relative import of a file (static, type-only, re-export, dynamic), as repository-relative .ts paths. */
function importsOf(root, rel) {
  const text = fs.readFileSync(path.join(root, rel), 'utf8');
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith('./') || spec.startsWith('../'))
    .map((spec) => path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec)).replace(/\.js$/, '.ts'));
}

/** Import circles among the files (Tarjan's strongly connected components of more than one file, or a self-import). */
function circles(graph) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** The offences in the tree at `root`: back edges (an import against the direction) and circles. */
export function checkLayers(root) {
  const graph = new Map();
  for (const rel of sourcesUnder(root)) graph.set(rel, importsOf(root, rel));
  const backEdges = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      if (!to.includes('/') || !CHECKED.includes(to.split('/')[0])) continue; // a file outside the checked rooms (none today)
      const [a, b] = [roomOf(from), roomOf(to)];
      if (!mayImport(a, b)) backEdges.push({ from, to, rule: `${a} may import ${(RULES[a.startsWith('services/') ? 'services/*' : a] ?? ['nothing declared']).join(', ') || 'only itself'}` });
    }
  }
  return { files: graph.size, backEdges, circles: circles(graph) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
  const { files, backEdges, circles: found } = checkLayers(root);
  for (const e of backEdges) console.error(`layers: ${e.from} imports ${e.to}, against the direction (${e.rule})`);
  for (const c of found) console.error(`layers: import circle: ${c.join(' → ')}`);
  if (backEdges.length > 0 || found.length > 0) {
    console.error(`layers: ${backEdges.length} back edge(s), ${found.length} circle(s) in ${files} files; the rooms and their direction: docs/architecture.md`);
    process.exit(1);
  }
  console.log(`layers: ${files} files, every import follows the direction, no circles`);
}
