// The storage screens: the buckets with the S3 keys, one bucket's objects (by prefix, a page at a time, with
// upload, download and delete), and the page that shows a new key's secret once. Every name, key and message
// goes through html`` (escaped); an object key reaches a URL only as an encoded query value (keyQuery), so
// spaces, "../", "?", "#" or markup in a key stay data whatever bytes it holds.

import type { BrowsePage } from '../../../services/storage/browser.js';
import type { BucketInfo } from '../../../services/storage/object-store.js';
import type { KeyScope } from '../../../services/storage/scope.js';
import { ago, bytes, html, seg, type Html } from '../html.js';
import { csrfField } from '../layout.js';
import type { Session } from '../sessions.js';

export interface KeyRow {
  accessKeyId: string;
  created: string;
  scope: KeyScope;
}

/** `key=…` for a link: URLSearchParams encodes every byte that is not safe (and never throws, unlike encodeURIComponent on a lone surrogate). */
export const keyQuery = (params: Record<string, string>): string => new URLSearchParams(params).toString();

/**
 * A key as a form field: base64url of its UTF-8. A browser rewrites every line break in a submitted value to
 * CRLF, so a key holding "\n" or "\r" would come back as another key; this way every byte comes back as it was.
 */
export const keyField = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');

/** A key as shown: control characters as their visible pictures (␍ ␊ ␀ …), which HTML would otherwise fold or drop. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const showKey = (key: string): string => key.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\x7f' ? '\u2421' : String.fromCharCode(0x2400 + c.charCodeAt(0))));

export const bucketPath = (bucket: string) => `/ui/storage/b/${seg(bucket)}`;

export function storageOffBody(): Html {
  return html`<section class="panel" id="storage-off"><h1>Storage</h1>
<p class="empty">The built-in S3 storage is off on this platform (<code>STRATUS_S3_PORT=off</code>): there are no buckets or keys to show. Set <code>STRATUS_S3_PORT</code> to a port (9000 by default) and restart to turn it on.</p></section>`;
}

const scopeText = (s: KeyScope) => `${s.buckets.join(', ') || 'no bucket'} · ${s.access.join(', ') || 'no right'}`;

export function storageBody(o: { buckets: Array<BucketInfo & { used: number }>; keys: KeyRow[]; endpoint: string; session: Session; now: number }): Html {
  const { session, now } = o;
  return html`<h1>Storage</h1>
<p class="note">S3-compatible endpoint: <code>${o.endpoint}</code> (path-style, any region; sign with a key below).</p>
<div class="cols">
<section class="panel" aria-label="Buckets"><h2>Buckets</h2>
${o.buckets.length === 0 ? html`<p class="empty">No bucket yet.</p>` : html`<table class="grid" id="buckets"><thead><tr><th>Bucket</th><th>Created</th><th class="num">Held</th></tr></thead><tbody>
${o.buckets.map((b) => html`<tr data-bucket="${b.name}"><td><a href="${bucketPath(b.name)}">${b.name}</a></td><td>${ago(b.created, now)}</td><td class="num">${bytes(b.used)}</td></tr>`)}
</tbody></table>`}
<h2>Create a bucket</h2>
<form method="post" action="/ui/storage/buckets" class="inline" id="create-bucket">
  ${csrfField(session)}
  <label>Name <input name="bucket" required maxlength="63" autocomplete="off" placeholder="photos"></label>
  <button type="submit">Create</button>
</form>
</section>
<section class="panel" aria-label="S3 keys"><h2>S3 keys</h2>
${o.keys.length === 0 ? html`<p class="empty">No key issued.</p>` : html`<table class="grid" id="storage-keys"><thead><tr><th>Access key</th><th>Scope</th><th>Issued</th><th></th></tr></thead><tbody>
${o.keys.map((k) => html`<tr data-key="${k.accessKeyId}"><td><code>${k.accessKeyId}</code></td><td>${scopeText(k.scope)}</td><td>${ago(k.created, now)}</td>
<td><form method="post" action="/ui/storage/keys/${seg(k.accessKeyId)}/revoke" class="danger">${csrfField(session)}<button type="submit">Revoke</button></form></td></tr>`)}
</tbody></table>`}
<h2>Issue a key</h2>
<form method="post" action="/ui/storage/keys" id="issue-key">
  ${csrfField(session)}
  <label for="key-buckets">Buckets (names, <code>prefix*</code> patterns or <code>*</code> for every bucket; separated by spaces or commas)</label>
  <input id="key-buckets" name="buckets" required autocomplete="off" placeholder="photos logs-*">
  <fieldset class="rights"><legend>Rights</legend>
    <label><input type="checkbox" name="access" value="read" checked> read (get, list)</label>
    <label><input type="checkbox" name="access" value="write"> write (put, delete objects)</label>
    <label><input type="checkbox" name="access" value="manage"> manage (create, delete buckets)</label>
  </fieldset>
  <button type="submit">Issue key</button>
</form>
</section>
</div>`;
}

export function keyIssuedBody(k: KeyRow & { secretAccessKey: string }, endpoint: string): Html {
  return html`<section class="panel" id="key-issued"><h1>S3 key issued</h1>
<p class="alert">Copy the secret now: it is shown this once and never again (Stratus keeps it sealed).</p>
<dl class="facts">
  <div><dt>Access key id</dt><dd><code id="new-access-key">${k.accessKeyId}</code></dd></div>
  <div><dt>Secret access key</dt><dd><code id="new-secret-key">${k.secretAccessKey}</code></dd></div>
  <div><dt>Scope</dt><dd>${scopeText(k.scope)}</dd></div>
  <div><dt>Endpoint</dt><dd><code>${endpoint}</code></dd></div>
</dl>
<p><a href="/ui/storage">Back to storage</a></p></section>`;
}

export interface BucketView {
  bucket: string;
  prefix: string;
  listed: BrowsePage;
  maxObjectBytes: number;
  session: Session;
  now: number;
}

export function bucketBody(v: BucketView): Html {
  const { bucket, prefix, listed, session, now } = v;
  const here = bucketPath(bucket);
  const upOne = prefix.replace(/[^/]*\/?$/, '');
  return html`<h1><a href="/ui/storage">Storage</a> / ${bucket}</h1>
<section class="panel" aria-label="Objects">
<form method="get" action="${here}" class="search">
  <label for="prefix">Prefix</label><input id="prefix" name="prefix" value="${prefix}" autocomplete="off">
  <button type="submit">List</button>
  ${prefix ? html`<a href="${here}?${keyQuery({ prefix: upOne })}">up</a>` : ''}
</form>
${listed.objects.length === 0 && listed.prefixes.length === 0 ? html`<p class="empty">No object${prefix ? ' under this prefix' : ''}.</p>` : html`<table class="grid" id="objects"><thead><tr><th>Key</th><th class="num">Size</th><th>Type</th><th>Modified</th><th></th></tr></thead><tbody>
${listed.prefixes.map((p) => html`<tr class="folder"><td colspan="5"><a href="${here}?${keyQuery({ prefix: p })}">${showKey(p)}</a></td></tr>`)}
${listed.objects.map((m) => html`<tr data-key="${m.key}"><td><code>${showKey(m.key)}</code></td><td class="num">${bytes(m.size)}</td><td>${m.contentType}</td><td>${ago(m.lastModified, now)}</td>
<td class="row-actions"><a class="download" href="${here}/object?${keyQuery({ key: m.key })}" download>Download</a>
<form method="post" action="${here}/objects/delete" class="danger inline">${csrfField(session)}<input type="hidden" name="key64" value="${keyField(m.key)}"><button type="submit">Delete</button></form></td></tr>`)}
</tbody></table>`}
${listed.next ? html`<p><a id="next-page" href="${here}?${keyQuery({ prefix, after: listed.next })}">Next page</a></p>` : ''}
</section>
<div class="cols">
<section class="panel" aria-label="Upload"><h2>Upload an object</h2>
<form method="post" action="${here}/upload" id="upload-form" data-prefix="${prefix}">
  <label for="upload-file">File (at most ${bytes(v.maxObjectBytes)})</label>
  <input id="upload-file" type="file" name="file" required>
  <label for="upload-key">Key (empty: the prefix and the file's name)</label>
  <input id="upload-key" name="key" autocomplete="off" placeholder="${prefix}file-name">
  <button type="submit">Upload</button>
  <noscript><p class="note">Uploading needs the page's script (it streams the file as it is).</p></noscript>
</form>
<div id="upload-result" aria-live="polite"></div>
</section>
<section class="panel" aria-label="Delete bucket"><h2>Delete the bucket</h2>
<form method="post" action="${here}/delete" class="danger">
  ${csrfField(session)}
  <label for="confirm-bucket">Type <code>${bucket}</code> to delete it (it must be empty)</label>
  <input id="confirm-bucket" name="confirm" autocomplete="off" required>
  <button type="submit">Delete ${bucket}</button>
</form>
</section>
</div>`;
}
