// /ui/functions/NAME/triggers: a function's triggers with their fires, and the forms that add a cron trigger
// (its next fire times shown before it is saved), a storage trigger, set the function URL's http trigger and
// issue or revoke invoke keys. The live parts carry no form (the stream renders without a session, so no
// CSRF token): each trigger's fires and next times are their own fragments, the forms stay where they are.

import { HTTP_TRIGGER_ID, STORAGE_EVENTS, type HttpTrigger, type TriggerRecord } from '../../../core/triggers.js';
import type { InvokeKeyRecord } from '../../../core/store/triggers.js';
import type { FireView } from '../../../control/triggers/trigger-service.js';
import type { CronPreview } from '../../../control/triggers/cron-preview.js';
import type { DashboardDeps } from '../deps.js';
import { ago, badge, html, seg, type Html } from '../html.js';
import { csrfField, live } from '../layout.js';
import type { Session } from '../sessions.js';
import type { Fragments } from '../pages/functions.js';
import { many, one, type FormValues } from './posted-fields.js';

type Described = TriggerRecord & { fires: FireView[]; next?: string[] };

/** What a form posted and why it was refused (or a cron preview), shown again with the page. */
export interface FormState {
  form: 'cron' | 'storage' | 'http' | 'key';
  values: FormValues;
  error?: string;
  preview?: CronPreview;
}

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const FIRES_SHOWN = 3;

async function described(d: DashboardDeps, name: string): Promise<Described[]> {
  const ts = await d.triggers.list(name);
  return Promise.all(ts.map((t) => d.triggers.get(name, t.id).catch(() => ({ ...t, fires: [] as FireView[] }))));
}

export async function triggersFragments(d: DashboardDeps, name: string): Promise<Fragments> {
  const out: Fragments = {};
  for (const t of await described(d, name)) {
    out[`fires-${t.id}`] = firesCell(d, t);
    out[`next-${t.id}`] = nextCell(d, t);
  }
  out['console-keys'] = keysTable(d, await d.triggers.listKeys(name));
  return out;
}

function firesCell(d: DashboardDeps, t: Described): Html {
  if (t.type === 'http') return html`<span class="sub">every call of the URL</span>`;
  if (t.fires.length === 0) return html`<span class="empty">none yet</span>`;
  return html`<ul class="fires">${t.fires.slice(0, FIRES_SHOWN).map((f) => html`<li>${ago(f.firedAt, d.clock.now())} ${badge(f.result)}${f.key ? html` <code>${f.key}</code>` : ''}${f.invocation ? html` → ${badge(f.invocation.status)}` : ''}${f.reason ? html` <span class="sub">${f.reason}</span>` : ''}</li>`)}</ul>`;
}

function nextCell(d: DashboardDeps, t: Described): Html {
  if (t.type !== 'cron') return html`–`;
  return t.next?.length ? html`${t.next.map((n) => html`<time datetime="${n}">${n.replace('T', ' ').replace('.000Z', ' UTC')}</time> <span class="sub">(${ago(n, d.clock.now())})</span><br>`)}` : html`–`;
}

function what(t: TriggerRecord): Html {
  switch (t.type) {
    case 'cron': return html`<code>${t.schedule}</code> in ${t.timezone}, overlap ${t.overlap}${t.payload !== null ? html`, payload <code>${JSON.stringify(t.payload).slice(0, 80)}</code>` : ''}`;
    case 'storage': return html`${t.source} bucket <code>${t.bucket}</code>: ${t.events.join(', ')}${t.filter?.prefix ? html`, keys under <code>${t.filter.prefix}</code>` : ''}${t.filter?.suffix ? html`, ending <code>${t.filter.suffix}</code>` : ''}`;
    case 'http': return html`${t.auth === 'key' ? 'invoke key required' : 'public'}; ${t.methods ? t.methods.join(' ') : 'any method'}${t.cors ? html`; CORS for ${t.cors.allowOrigins.join(', ')}` : ''}`;
  }
}

function triggersTable(d: DashboardDeps, name: string, triggers: Described[], s: Session): Html {
  if (triggers.length === 0) return html`<p class="empty">No trigger: the function URL is public, any method, and nothing else calls the function.</p>`;
  return html`<table class="grid" id="console-triggers"><thead><tr><th>Type</th><th>What</th><th>Last fires</th><th>Next fires</th><th></th></tr></thead><tbody>
${triggers.map((t) => html`<tr data-trigger="${t.id}" data-type="${t.type}"><td>${t.type}</td><td>${what(t)}</td>
  <td>${live(`fires-${t.id}`, 'div', firesCell(d, t))}</td>
  <td>${live(`next-${t.id}`, 'div', nextCell(d, t))}</td>
  <td><form method="post" action="/ui/functions/${seg(name)}/triggers/${seg(t.id)}/delete" class="danger remove">${csrfField(s)}<button type="submit">Remove</button></form></td></tr>`)}
</tbody></table>`;
}

function keysTable(d: DashboardDeps, keys: InvokeKeyRecord[]): Html {
  if (keys.length === 0) return html`<p class="empty">No invoke key.</p>`;
  return html`<ul class="keys">${keys.map((k) => html`<li data-key="${k.id}"><code>${k.prefix}…</code> ${k.name ?? ''} <span class="sub">issued ${ago(k.createdAt, d.clock.now())}</span></li>`)}</ul>`;
}

/** The revoke buttons, beside the live list (they carry the CSRF token). */
function revokeForms(name: string, keys: InvokeKeyRecord[], s: Session): Html {
  return html`${keys.map((k) => html`<form method="post" action="/ui/functions/${seg(name)}/keys/${seg(k.id)}/revoke" class="danger inline revoke">${csrfField(s)}<button type="submit">Revoke <code>${k.prefix}…</code>${k.name ? ` (${k.name})` : ''}</button></form>`)}`;
}

const valuesFor = (state: FormState | null, form: FormState['form']): FormValues | null => (state?.form === form ? state.values : null);
const errorFor = (state: FormState | null, form: FormState['form']): Html => (state?.form === form && state.error ? html`<p class="flash flash-error" role="alert">${state.error}</p>` : html``);
const checked = (on: boolean) => (on ? html` checked` : html``);
const selected = (on: boolean) => (on ? html` selected` : html``);

export function previewList(p: CronPreview): Html {
  return html`<p class="sub">Next fires (${p.timezone}):</p><ol class="preview">${p.next.map((t) => html`<li><time datetime="${t}">${t.replace('T', ' ').replace('.000Z', ' UTC')}</time></li>`)}</ol>`;
}

function cronForm(name: string, s: Session, state: FormState | null): Html {
  const v = valuesFor(state, 'cron') ?? {};
  const tz = one(v, 'timezone') || 'UTC';
  return html`<form method="post" action="/ui/functions/${seg(name)}/triggers/cron" id="cron-form">
  ${csrfField(s)}${errorFor(state, 'cron')}
  <label for="cron-schedule">Schedule (5 fields, or 6 with seconds first)</label>
  <input id="cron-schedule" name="schedule" value="${one(v, 'schedule')}" placeholder="*/5 * * * *" required spellcheck="false" autocomplete="off">
  <label for="cron-timezone">Time zone</label>
  <input id="cron-timezone" name="timezone" value="${tz}" spellcheck="false">
  <label for="cron-payload">Payload (JSON, the event's data; empty: none)</label>
  <textarea id="cron-payload" name="payload" rows="2" spellcheck="false">${one(v, 'payload')}</textarea>
  <label for="cron-overlap">While the last fire still runs</label>
  <select id="cron-overlap" name="overlap"><option value="skip"${selected(one(v, 'overlap') !== 'allow')}>skip the tick</option><option value="allow"${selected(one(v, 'overlap') === 'allow')}>fire anyway</option></select>
  <div id="cron-preview" aria-live="polite">${state?.preview ? previewList(state.preview) : html`<p class="sub">The next fire times show here before you save.</p>`}</div>
  <button type="submit" formaction="/ui/functions/${seg(name)}/triggers/cron-preview" id="cron-preview-button">Preview</button>
  <button type="submit" id="cron-save">Save the cron trigger</button>
</form>`;
}

function storageForm(name: string, s: Session, state: FormState | null): Html {
  const v = valuesFor(state, 'storage');
  const events = v ? many(v, 'events') : ['ObjectCreated:*'];
  return html`<form method="post" action="/ui/functions/${seg(name)}/triggers/storage" id="storage-form">
  ${csrfField(s)}${errorFor(state, 'storage')}
  <label for="storage-bucket">Bucket</label>
  <input id="storage-bucket" name="bucket" value="${v ? one(v, 'bucket') : ''}" required spellcheck="false" autocomplete="off">
  <fieldset><legend>Events</legend>${STORAGE_EVENTS.map((e) => html`<label class="check"><input type="checkbox" name="events" value="${e}"${checked(events.includes(e))}> ${e}</label>`)}</fieldset>
  <label for="storage-prefix">Key prefix (empty: any)</label><input id="storage-prefix" name="prefix" value="${v ? one(v, 'prefix') : ''}" spellcheck="false">
  <label for="storage-suffix">Key suffix (empty: any)</label><input id="storage-suffix" name="suffix" value="${v ? one(v, 'suffix') : ''}" spellcheck="false">
  <label for="storage-source">Events from</label>
  <select id="storage-source" name="source"><option value="stratus">Stratus's own S3 storage</option><option value="minio"${selected(v ? one(v, 'source') === 'minio' : false)}>a MinIO posting its webhooks to Stratus</option></select>
  <button type="submit">Add the storage trigger</button>
</form>`;
}

function httpForm(name: string, s: Session, current: HttpTrigger | undefined, state: FormState | null): Html {
  const v = valuesFor(state, 'http');
  const auth = v ? one(v, 'auth') : (current?.auth ?? 'public');
  const methods = v ? many(v, 'methods') : (current?.methods ?? []);
  const origins = v ? one(v, 'allowOrigins') : (current?.cors?.allowOrigins.join('\n') ?? '');
  const headers = v ? one(v, 'allowHeaders') : (current?.cors?.allowHeaders?.join(', ') ?? '');
  const maxAge = v ? one(v, 'maxAgeSeconds') : String(current?.cors?.maxAgeSeconds ?? '');
  const credentials = v ? one(v, 'allowCredentials') === 'on' : (current?.cors?.allowCredentials ?? false);
  return html`<form method="post" action="/ui/functions/${seg(name)}/triggers/http" id="http-form">
  ${csrfField(s)}${errorFor(state, 'http')}
  <fieldset><legend>Who may call the URL</legend>
    <label class="check"><input type="radio" name="auth" value="public"${checked(auth !== 'key')}> anyone</label>
    <label class="check"><input type="radio" name="auth" value="key" id="http-auth-key"${checked(auth === 'key')}> only with an invoke key (header <code>x-stratus-key</code>)</label>
  </fieldset>
  <fieldset><legend>Methods (none ticked: any)</legend>${HTTP_METHODS.map((m) => html`<label class="check"><input type="checkbox" name="methods" value="${m}"${checked(methods.includes(m))}> ${m}</label>`)}</fieldset>
  <label for="http-origins">CORS: allowed origins, one a line or "*" (empty: no CORS)</label>
  <textarea id="http-origins" name="allowOrigins" rows="2" spellcheck="false">${origins}</textarea>
  <label for="http-headers">CORS: allowed request headers (comma separated)</label><input id="http-headers" name="allowHeaders" value="${headers}" spellcheck="false">
  <label for="http-maxage">CORS: preflight cache, seconds</label><input id="http-maxage" name="maxAgeSeconds" value="${maxAge}" inputmode="numeric" size="6">
  <label class="check"><input type="checkbox" name="allowCredentials"${checked(credentials)}> allow credentials</label>
  <button type="submit">${current ? 'Change' : 'Set'} the URL's settings</button>
</form>
${current ? html`<form method="post" action="/ui/functions/${seg(name)}/triggers/${HTTP_TRIGGER_ID}/delete" class="danger">${csrfField(s)}<button type="submit">Back to a public URL, any method, no CORS</button></form>` : ''}`;
}

export async function triggersBody(d: DashboardDeps, name: string, s: Session, state: FormState | null): Promise<Html> {
  const [triggers, keys] = await Promise.all([described(d, name), d.triggers.listKeys(name)]);
  const fn = seg(name);
  const http = triggers.find((t): t is Described & HttpTrigger => t.type === 'http');
  return html`<h1>${name} · triggers and keys</h1>
<p class="crumbs"><a href="/ui/functions/${fn}">← ${name}</a> · <a href="/ui/functions/${fn}/traffic">Traffic</a></p>
<link rel="stylesheet" href="/ui/assets/console-triggers.css">
<section class="panel"><h2>Triggers</h2>${triggersTable(d, name, triggers, s)}</section>
<div class="cols">
<section class="panel" aria-label="Add a cron trigger"><h2>Add a cron trigger</h2>${cronForm(name, s, state)}</section>
<section class="panel" aria-label="Add a storage trigger"><h2>Add a storage trigger</h2>${storageForm(name, s, state)}</section>
</div>
<div class="cols">
<section class="panel" aria-label="The function URL"><h2>The function URL</h2>${httpForm(name, s, http, state)}</section>
<section class="panel" aria-label="Invoke keys"><h2>Invoke keys</h2>
  ${live('console-keys', 'div', keysTable(d, keys))}
  ${revokeForms(name, keys, s)}
  <form method="post" action="/ui/functions/${fn}/keys" id="key-form" class="inline">
    ${csrfField(s)}${errorFor(state, 'key')}
    <label for="key-name">Note (optional) <input id="key-name" name="name" maxlength="100" autocomplete="off"></label>
    <button type="submit">Issue an invoke key</button>
  </form>
  <p class="note">The key is shown once, on the page that issues it; only its first characters are kept in view.</p>
</section>
</div>
<script src="/ui/assets/console-triggers.js" defer></script>`;
}
