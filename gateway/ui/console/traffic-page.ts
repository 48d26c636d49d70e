// /ui/functions/NAME/traffic: where each alias sends its calls, the last rollout as it happens (warming, done
// or abandoned — the live stream follows it), and the forms that start a canary with a weight slider,
// promote it, roll back, or point an alias at a version. The live parts carry no form (no CSRF token in a
// stream); the forms list the versions that can serve (ready ones) as the page was opened.

import { LATEST, type WeightedVersion } from '../../../core/aliases.js';
import type { FunctionRecord, RolloutState, VersionRecord } from '../../../core/types.js';
import type { DashboardDeps } from '../deps.js';
import { ago, badge, html, seg, type Html } from '../html.js';
import { csrfField, live } from '../layout.js';
import type { Session } from '../sessions.js';
import type { Fragments } from '../pages/functions.js';

/** Percent a canary starts at when the page opens. */
const DEFAULT_CANARY_WEIGHT = 10;

export const describeVersions = (vs: WeightedVersion[] | null | undefined): string =>
  !vs || vs.length === 0 ? 'nothing' : vs.map((v) => (vs.length > 1 ? `v${v.version} ${v.weight} %` : `v${v.version}`)).join(', ');

interface TrafficData {
  fn: FunctionRecord;
  versions: VersionRecord[];
  aliases: Record<string, WeightedVersion[]>;
}

async function trafficData(d: DashboardDeps, name: string): Promise<TrafficData> {
  const { fn, versions } = await d.service.get(name);
  return { fn, versions, aliases: await d.releases.aliases(name) };
}

export async function trafficFragments(d: DashboardDeps, name: string): Promise<Fragments> {
  const t = await trafficData(d, name);
  return { 'traffic-rollout': rolloutPanel(d, t.fn.rollout ?? null), 'traffic-aliases': aliasesTable(d, name, t.aliases) };
}

function rolloutPanel(d: DashboardDeps, r: RolloutState | null): Html {
  if (!r) return html`<p class="empty">No rollout yet.</p>`;
  return html`<div class="rollout" data-state="${r.state}" data-alias="${r.alias}">
  <p>${badge(r.state)} <strong>${r.alias}</strong>: ${describeVersions(r.from)} → ${describeVersions(r.to)} <span class="sub">(${r.cause}, started ${ago(r.startedAt, d.clock.now())}${r.finishedAt ? `, finished ${ago(r.finishedAt, d.clock.now())}` : ''})</span></p>
  ${r.state === 'warming' ? html`<p class="sub">Waiting for a ready instance of ${describeVersions(r.to)}; calls keep going to ${describeVersions(r.from)} until then.</p>` : ''}
  ${r.reason ? html`<p class="sub">${r.reason}</p>` : ''}
</div>`;
}

function aliasesTable(d: DashboardDeps, name: string, aliases: Record<string, WeightedVersion[]>): Html {
  const entries = Object.entries(aliases);
  if (entries.length === 0) return html`<p class="empty">Nothing serves yet: the first good build will.</p>`;
  return html`<table class="grid"><thead><tr><th>Alias</th><th>Serves</th><th>Called at</th></tr></thead><tbody>
${entries.map(([alias, vs]) => html`<tr data-alias="${alias}"><td>${alias}${vs.length > 1 ? html` ${badge('canary')}` : ''}</td>
  <td>${vs.map((v) => html`<span class="weight"><strong>v${v.version}</strong>${vs.length > 1 ? html` <meter min="0" max="100" value="${v.weight}"></meter> ${v.weight} %` : ''}</span> `)}</td>
  <td><code>${alias === LATEST ? d.origins.functionUrl(name, undefined) : `/fn/${name}@${alias}`}</code></td></tr>`)}
</tbody></table>`;
}

const options = (versions: VersionRecord[], pick: number | undefined) =>
  versions.map((v) => html`<option value="${v.version}"${v.version === pick ? html` selected` : ''}>v${v.version}</option>`);

export async function trafficBody(d: DashboardDeps, name: string, s: Session): Promise<Html> {
  const t = await trafficData(d, name);
  const fn = seg(name);
  const ready = [...t.versions].filter((v) => v.status === 'ready').reverse();
  const aliasNames = Object.keys(t.aliases).length ? Object.keys(t.aliases) : [LATEST];
  const stable = t.aliases[LATEST]?.[0]?.version ?? ready[0]?.version;
  const canary = ready.find((v) => v.version !== stable)?.version;
  const aliasOptions = aliasNames.map((a) => html`<option value="${a}">${a}</option>`);
  return html`<h1>${name} · traffic</h1>
<p class="crumbs"><a href="/ui/functions/${fn}">← ${name}</a> · <a href="/ui/functions/${fn}/triggers">Triggers and keys</a></p>
<link rel="stylesheet" href="/ui/assets/console-triggers.css">
<section class="panel" aria-label="Rollout"><h2>Last rollout</h2>${live('traffic-rollout', 'div', rolloutPanel(d, t.fn.rollout ?? null))}</section>
<section class="panel" aria-label="Aliases"><h2>Aliases</h2>${live('traffic-aliases', 'div', aliasesTable(d, name, t.aliases))}</section>
<div class="cols">
<section class="panel" aria-label="Canary"><h2>Canary</h2>
${ready.length < 2 ? html`<p class="empty">A canary needs two ready versions; deploy another one first.</p>` : html`<form method="post" action="/ui/functions/${fn}/traffic/canary" id="canary-form">
  ${csrfField(s)}
  <label for="canary-alias">Alias</label><select id="canary-alias" name="alias">${aliasOptions}</select>
  <label for="canary-stable">Stable version</label><select id="canary-stable" name="stable">${options(ready, stable)}</select>
  <label for="canary-version">Canary version</label><select id="canary-version" name="canary">${options(ready, canary)}</select>
  <label for="canary-weight">Share of calls to the canary</label>
  <input type="range" id="canary-weight" name="weight" min="1" max="99" step="1" value="${DEFAULT_CANARY_WEIGHT}">
  <output id="canary-weight-out" for="canary-weight">${DEFAULT_CANARY_WEIGHT} %</output>
  <button type="submit">Start the canary</button>
</form>`}
</section>
<section class="panel actions" aria-label="Promote and roll back"><h2>Promote</h2>
<form method="post" action="/ui/functions/${fn}/traffic/promote" id="promote-form" class="inline">
  ${csrfField(s)}<label>Alias <select name="alias">${aliasOptions}</select></label>
  <button type="submit">Promote its canary to 100 %</button>
</form>
<h2>Roll back</h2>
<form method="post" action="/ui/functions/${fn}/traffic/rollback" id="traffic-rollback-form" class="inline">
  ${csrfField(s)}<label>Alias <select name="alias">${aliasOptions}</select></label>
  <button type="submit">Roll back</button>
</form>
<p class="note">With a canary: all calls back to its stable version. <code>latest</code> without one: the previous good version.</p>
<h2>Point an alias at a version</h2>
<form method="post" action="/ui/functions/${fn}/traffic/move" id="move-form" class="inline">
  ${csrfField(s)}<label>Alias <input name="alias" list="alias-names" required size="12" autocomplete="off" spellcheck="false"></label>
  <datalist id="alias-names">${aliasOptions}</datalist>
  <label>Version <select name="version">${options(ready, ready[0]?.version)}</select></label>
  <button type="submit">Move</button>
</form>
</section>
</div>
<script src="/ui/assets/console-triggers.js" defer></script>`;
}
