// The rooms of the house and their direction (scripts/check-layers.mjs, run by `npm run lint`): the tree as
// it is has no back edge and no circle, and the check does catch one of each, type-only imports included.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script, typed by its use here
import { checkLayers, roomOf } from '../../scripts/check-layers.mjs';

type Result = { files: number; backEdges: Array<{ from: string; to: string }>; circles: string[][] };
const check = checkLayers as (root: string) => Result;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let tmp: string | null = null;
afterEach(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = null;
});

/** A small tree of the given files (path → text) in a temp dir. */
function tree(files: Record<string, string>): string {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-layers-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
    fs.writeFileSync(path.join(tmp, rel), text);
  }
  return tmp;
}

describe('the layering check', () => {
  it('finds no back edge and no circle in the project', () => {
    const r = check(ROOT);
    expect(r.files).toBeGreaterThan(200);
    expect(r.backEdges).toEqual([]);
    expect(r.circles).toEqual([]);
  });

  it('names the rooms, gateway/ and services/ by their second level', () => {
    expect([roomOf('core/types.ts'), roomOf('gateway/app.ts'), roomOf('gateway/dataplane/proxy.ts'), roomOf('services/git/index.ts'), roomOf('control/releases/x.ts')])
      .toEqual(['core', 'gateway', 'gateway/dataplane', 'services/git', 'control']);
  });

  it('fails on an import against the direction, a type-only one too', () => {
    const r = check(tree({
      'core/types.ts': "import type { Scheduler } from '../scheduler/scheduler.js';\nexport type T = Scheduler;\n",
      'scheduler/scheduler.ts': 'export interface Scheduler { x: number }\n',
      'control/run.ts': "import { serve } from '../gateway/dataplane/proxy.js';\nexport const run = serve;\n",
      'gateway/dataplane/proxy.ts': "import { page } from '../ui/page.js';\nexport const serve = page;\n",
      'gateway/ui/page.ts': "import { store } from '../../services/storage/store.js';\nexport const page = store;\n",
      'services/storage/store.ts': "import { send } from '../notify/send.js';\nexport const store = send;\n",
      'services/notify/send.ts': 'export const send = 1;\n',
    }));
    expect(r.backEdges.map((e) => `${e.from} -> ${e.to}`).sort()).toEqual([
      'control/run.ts -> gateway/dataplane/proxy.ts',
      'core/types.ts -> scheduler/scheduler.ts',
      'gateway/dataplane/proxy.ts -> gateway/ui/page.ts',
      'services/storage/store.ts -> services/notify/send.ts',
    ]);
    expect(r.circles).toEqual([]);
  });

  it('allows what goes down the direction', () => {
    const r = check(tree({
      'core/types.ts': 'export type T = number;\n',
      'scheduler/s.ts': "import type { T } from '../core/types.js';\nexport const s: T = 1;\n",
      'control/c.ts': "import { s } from '../scheduler/s.js';\nexport const c = s;\n",
      'gateway/dataplane/d.ts': "import { c } from '../../control/c.js';\nexport const d = c;\n",
      'gateway/api/a.ts': "import { d } from '../dataplane/d.js';\nimport { v } from '../../services/git/v.js';\nexport const a = d + v;\n",
      'services/git/v.ts': "import type { T } from '../../core/types.js';\nexport const v: T = 2;\n",
      'platform/main.ts': "import { a } from '../gateway/api/a.js';\nexport const m = a;\n",
    }));
    expect(r.backEdges).toEqual([]);
    expect(r.circles).toEqual([]);
  });

  it('fails on an import circle inside one room, through a re-export and a dynamic import too', () => {
    const r = check(tree({
      'builder/a.ts': "export { b } from './b.js';\nexport const a = 1;\n",
      'builder/b.ts': "export const b = async () => (await import('./c.js')).c;\n",
      'builder/c.ts': "import { a } from './a.js';\nexport const c = a;\n",
      'builder/d.ts': "import { a } from './a.js';\nexport const d = a;\n",
    }));
    expect(r.backEdges).toEqual([]);
    expect(r.circles).toEqual([['builder/a.ts', 'builder/b.ts', 'builder/c.ts']]);
  });
});
