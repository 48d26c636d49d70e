// The edit page (/ui/functions/NAME/code?version=N): the version's source files (from what its build kept,
// GET /v1/…/versions/N/source/files' own reader) each in an editor, deployed as a new version that keeps
// the version's settings; and the form that opens the diff of two versions.

import type { SourceFiles } from '../../../control/functions/version-sources.js';
import type { VersionRecord } from '../../../core/types.js';
import { bytes, html, seg, type Html } from '../html.js';

const OMITTED: Record<string, string> = {
  binary: 'not text',
  'too-large': 'too large to edit here',
  'total-exceeded': 'over what the editor loads at once',
  link: 'a link',
  'carriage-returns': 'has CR line ends, which a browser turns into LF',
};

export function codeBody(src: SourceFiles, versions: VersionRecord[], serving: number | null): Html {
  const fn = src.function;
  // A browser's form turns CR and CRLF into LF: a file with them would change without anyone editing it.
  const files: Array<{ path: string; bytes: number; text?: string; omitted?: string }> = src.files.map((f) => (f.text?.includes('\r') ? { path: f.path, bytes: f.bytes, omitted: 'carriage-returns' } : f));
  const text = files.filter((f) => f.text !== undefined);
  const omitted = files.filter((f) => f.text === undefined);
  // Deploying drops what the editor does not hold: only when it holds every file.
  const whole = omitted.length === 0 && !src.truncated && text.length > 0;
  const first = text.find((f) => /(^|\/)(index\.[cm]?js|main\.py)$/.test(f.path)) ?? text[0];
  const others = versions.filter((v) => v.version !== src.version).map((v) => v.version);
  return html`<link rel="stylesheet" href="/ui/assets/console.css">
<script src="/ui/assets/console.js" defer></script>
<section class="panel console">
<h1>Code of <a href="/ui/functions/${seg(fn)}">${fn}</a> v${src.version}${serving === src.version ? ' (serving)' : ''}</h1>
${versions.length > 1 ? html`<form method="get" action="/ui/functions/${seg(fn)}/code" class="inline"><label>Version <select name="version">${[...versions].sort((x, y) => y.version - x.version).map((v) => html`<option value="${v.version}"${v.version === src.version ? html` selected` : ''}>v${v.version} ${v.status}${v.version === serving ? ' (serving)' : ''}</option>`)}</select></label> <button type="submit">Open</button></form>` : ''}
<p class="sub">Uploaded as <a href="/ui/functions/${seg(fn)}/versions/${src.version}/source" download>${src.sourceName}</a>. Deploying makes a new version with this version's settings.</p>
<form id="code-form" method="post" action="/ui/console/deploy?from=${seg(fn)}&amp;version=${src.version}" enctype="multipart/form-data"${src.singleFile ? html` data-single="${src.singleFile}"` : ''}>
  ${text.length > 1 ? html`<label>File <select id="code-file">${text.map((f) => html`<option value="${f.path}"${f === first ? html` selected` : ''}>${f.path}</option>`)}</select></label>` : html`<input type="hidden" id="code-file" value="${first?.path ?? ''}">`}
  <div class="source-editor">${text.map((f) => html`<textarea class="code source-file" data-path="${f.path}" spellcheck="false" rows="16">
${f.text}</textarea>`)}</div>
  ${omitted.length > 0 || src.truncated ? html`<div class="alert">Not in the editor: ${omitted.map((f) => html`<code>${f.path}</code> (${OMITTED[f.omitted ?? ''] ?? f.omitted}, ${bytes(f.bytes)}) `)}${src.truncated ? 'and more files' : ''}. Deploy changes to this version by uploading an archive.</div>` : ''}
  <p><button type="submit"${whole ? '' : html` disabled`}>Deploy as a new version</button></p>
  <p class="deploy-error" role="alert"></p>
</form>
</section>
${others.length > 0 ? html`<section class="panel"><h2>Compare</h2>
<form method="get" action="/ui/functions/${seg(fn)}/diff" class="inline">
  <label>v<select name="a">${others.map((v) => html`<option value="${v}">${v}</option>`)}</select></label>
  <label>with v<select name="b"><option value="${src.version}">${src.version}</option></select></label>
  <button type="submit">Show the diff</button>
</form></section>` : ''}`;
}
