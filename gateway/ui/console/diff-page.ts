// Two versions' sources side by side (/ui/functions/NAME/diff?a=N&b=M): each file of either, changed lines
// marked, unchanged files named only. Rendered on the server through html`` (every line escaped), so it
// needs no script. The files are a stranger's: one budget for the whole page (rows drawn, cells of the
// line-matching tables) keeps a view from costing seconds of the gateway's event loop or hundreds of MB,
// whatever the two versions hold; a file past it is named, not compared.

import type { SourceFile, SourceFiles } from '../../../control/functions/version-sources.js';
import { html, seg, type Html } from '../html.js';
import { lineDiff, splitLines, type DiffRow } from './line-diff.js';

/** What one diff page may draw: rows of its tables, and cells of the line-matching tables behind them. */
const PAGE_BUDGET = { rows: 20_000, cells: 4_000_000 };

export function diffBody(a: SourceFiles, b: SourceFiles): Html {
  const fn = a.function;
  const left = new Map(a.files.map((f) => [f.path, f]));
  const right = new Map(b.files.map((f) => [f.path, f]));
  const paths = [...new Set([...left.keys(), ...right.keys()])].sort();
  const same = paths.filter((p) => left.get(p)?.text !== undefined && left.get(p)?.text === right.get(p)?.text);
  const changed = paths.filter((p) => !same.includes(p));
  const budget = { ...PAGE_BUDGET };
  return html`<link rel="stylesheet" href="/ui/assets/console.css">
<section class="panel console">
<h1><a href="/ui/functions/${seg(fn)}">${fn}</a>: v${a.version} → v${b.version}</h1>
<p class="sub">${changed.length} file${changed.length === 1 ? '' : 's'} differ${changed.length === 1 ? 's' : ''}${same.length ? html`; the same in both: ${same.map((p) => html`<code>${p}</code> `)}` : ''}.
 <a href="/ui/functions/${seg(fn)}/code?version=${b.version}">Edit v${b.version}</a></p>
${a.truncated || b.truncated ? html`<div class="alert">Incomplete: v${a.truncated ? a.version : b.version} has more files than the console lists; the files past them are not compared here. Download each version's source to compare all of it.</div>` : ''}
${changed.map((p) => fileDiff(p, left.get(p), right.get(p), a.version, b.version, budget))}
</section>`;
}

function fileDiff(path: string, l: SourceFile | undefined, r: SourceFile | undefined, va: number, vb: number, budget: typeof PAGE_BUDGET): Html {
  const head = html`<h2 class="diff-file">${path}${!l ? ' (added)' : !r ? ' (removed)' : ''}</h2>`;
  if ((l && l.text === undefined) || (r && r.text === undefined)) return html`${head}<p class="note">Not compared: ${l?.omitted ?? r?.omitted} (download each version's source to compare it).</p>`;
  const [before, after] = [splitLines(l?.text ?? ''), splitLines(r?.text ?? '')];
  // At most every line of both sides is a row; the matching table is (m+1)(n+1) cells unless it is skipped.
  const rowsAtMost = before.length + after.length;
  const cells = (before.length + 1) * (after.length + 1);
  if (rowsAtMost > budget.rows || cells > budget.cells) {
    return html`${head}<p class="note">Not compared: too large for one page (${before.length} and ${after.length} lines). Download each version's source to compare it.</p>`;
  }
  budget.rows -= rowsAtMost;
  budget.cells -= cells;
  const rows = lineDiff(before, after);
  return html`${head}<table class="diff" data-file="${path}"><colgroup><col class="ln"><col><col class="ln"><col></colgroup><thead><tr><th colspan="2">v${va}</th><th colspan="2">v${vb}</th></tr></thead><tbody>
${rows.map(row)}
</tbody></table>`;
}

const row = (r: DiffRow): Html => html`<tr class="diff-${r.kind}"><td class="ln">${r.left?.line ?? ''}</td><td class="l">${r.left?.text ?? ''}</td><td class="ln">${r.right?.line ?? ''}</td><td class="r">${r.right?.text ?? ''}</td></tr>`;
