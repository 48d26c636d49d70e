// Side-by-side line diff for the console (two versions' files): the longest common subsequence of lines,
// then each run of removed and added lines paired row by row. Bounded: past MAX_CELLS of the LCS table a
// file is shown as wholly replaced, rather than letting two big files cost seconds of CPU per page.

export interface DiffSide {
  line: number;
  text: string;
}

export interface DiffRow {
  kind: 'same' | 'changed' | 'removed' | 'added';
  left: DiffSide | null;
  right: DiffSide | null;
}

const MAX_CELLS = 4_000_000;

export const splitLines = (text: string): string[] => (text === '' ? [] : text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n'));

export function lineDiff(a: string[], b: string[]): DiffRow[] {
  const ops = (a.length + 1) * (b.length + 1) > MAX_CELLS ? replaceAll(a, b) : lcsOps(a, b);
  const rows: DiffRow[] = [];
  let i = 0;
  while (i < ops.length) {
    const op = ops[i]!;
    if (op.kind === 'same') {
      rows.push({ kind: 'same', left: op.left, right: op.right });
      i++;
      continue;
    }
    // A run of removals and additions: paired side by side as changed lines, the rest alone.
    const removed: DiffSide[] = [];
    const added: DiffSide[] = [];
    while (i < ops.length && ops[i]!.kind !== 'same') {
      const o = ops[i++]!;
      if (o.kind === 'removed') removed.push(o.left!);
      else added.push(o.right!);
    }
    for (let k = 0; k < Math.max(removed.length, added.length); k++) {
      const left = removed[k] ?? null;
      const right = added[k] ?? null;
      rows.push({ kind: left && right ? 'changed' : left ? 'removed' : 'added', left, right });
    }
  }
  return rows;
}

type Op = { kind: 'same' | 'removed' | 'added'; left: DiffSide | null; right: DiffSide | null };

function lcsOps(a: string[], b: string[]): Op[] {
  const w = b.length + 1;
  // table[i*w+j]: LCS length of a[i..] and b[j..]
  const table = new Uint32Array((a.length + 1) * w);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * w + j] = a[i] === b[j] ? table[(i + 1) * w + j + 1]! + 1 : Math.max(table[(i + 1) * w + j]!, table[i * w + j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ kind: 'same', left: { line: i + 1, text: a[i]! }, right: { line: j + 1, text: b[j]! } });
      i++;
      j++;
    } else if (j < b.length && (i === a.length || table[i * w + j + 1]! >= table[(i + 1) * w + j]!)) {
      ops.push({ kind: 'added', left: null, right: { line: j + 1, text: b[j]! } });
      j++;
    } else {
      ops.push({ kind: 'removed', left: { line: i + 1, text: a[i]! }, right: null });
      i++;
    }
  }
  return ops;
}

function replaceAll(a: string[], b: string[]): Op[] {
  return [
    ...a.map((text, i): Op => ({ kind: 'removed', left: { line: i + 1, text }, right: null })),
    ...b.map((text, j): Op => ({ kind: 'added', left: null, right: { line: j + 1, text } })),
  ];
}
