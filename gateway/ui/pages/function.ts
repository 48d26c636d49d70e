// One function: its state, instances live, recent invocations (each opening its logs), the charts of its
// last hour, and the actions (invoke, roll back, scale, delete). Builds, versions, triggers and usage are
// in function-history.ts. Every live part is a fragment the live stream re-renders with the same code.

import type { InvocationRecord } from '../../../core/store/invocations.js';
import type { FunctionRecord, VersionRecord } from '../../../core/types.js';
import type { FailingView } from '../../../scheduler/scheduler.js';
import type { FunctionStatus } from '../../../control/functions/function-service.js';
import type { DashboardDeps } from '../deps.js';
import { ago, badge, bytes, duration, html, latency, seg, type Html } from '../html.js';
import { csrfField, live } from '../layout.js';
import type { Session } from '../sessions.js';
import { buildsTable, triggersTable, usagePanel, versionsTable } from './function-history.js';
import type { Fragments } from './functions.js';

export interface FunctionData {
  fn: FunctionRecord;
  versions: VersionRecord[];
  status: FunctionStatus;
  failing: FailingView | null;
}

const RECENT = 20;

export async function functionFragments(d: DashboardDeps, name: string): Promise<Fragments> {
  const { fn, versions, status, failing } = await d.service.get(name);
  const [invocations, builds, triggers, usage] = await Promise.all([
    d.store.listInvocations(name, { limit: RECENT }),
    Promise.all(versions.filter((v) => v.buildId).slice(-10).reverse().map((v) => d.store.getBuild(v.buildId!))),
    d.triggers.list(name).then((ts) => Promise.all(ts.map((t) => d.triggers.get(name, t.id).catch(() => ({ ...t, fires: [] }))))),
    usagePanel(d, name),
  ]);
  const aliases = await d.releases.aliases(name);
  return {
    'fn-head': head(d, { fn, versions, status, failing }),
    instances: await instancesTable(d, fn, versions),
    invocations: invocationsTable(d, name, invocations),
    builds: buildsTable(d, builds.filter((b) => b !== null)),
    versions: versionsTable(d, fn, versions, aliases),
    triggers: triggersTable(d, triggers),
    usage,
  };
}

function head(d: DashboardDeps, { fn, versions, status, failing }: FunctionData): Html {
  const current = versions.find((v) => v.version === fn.currentVersion);
  const c = current?.config ?? fn.config;
  const state = status === 'ready' ? 'serving' : status;
  const rollout = fn.rollout;
  return html`<h1>${fn.name} ${badge(state)}</h1>
<dl class="facts">
  <div><dt>Serving</dt><dd>${fn.currentVersion === null ? 'nothing yet' : `v${fn.currentVersion}`}</dd></div>
  <div><dt>Newest</dt><dd>v${fn.latestVersion}</dd></div>
  <div><dt>Runtime</dt><dd>${c.runtime ?? 'own image'}</dd></div>
  <div><dt>Memory</dt><dd>${c.memoryMb} MB</dd></div>
  <div><dt>Timeout</dt><dd>${duration(c.timeoutMs)}</dd></div>
  <div><dt>Instances</dt><dd>${c.minInstances}–${c.maxInstances}, ${c.concurrency} calls each</dd></div>
  <div><dt>URL</dt><dd><code>${d.origins.functionUrl(fn.name, undefined)}</code> (programs: <code>/fn/${fn.name}</code>)</dd></div>
</dl>
${rollout ? html`<p class="note">Last move: ${rollout.alias} → ${rollout.to.map((v) => `v${v.version}${rollout.to.length > 1 ? ` ${v.weight}%` : ''}`).join(', ')} (${rollout.cause}, ${rollout.state}${rollout.reason ? `: ${rollout.reason}` : ''}) ${ago(rollout.finishedAt ?? rollout.startedAt, d.clock.now())}</p>` : ''}
${failing ? html`<div class="alert"><strong>v${failing.version} keeps failing to start</strong> (${failing.failures} in a row; next try ${ago(failing.nextTryAt, d.clock.now())}): ${failing.lastError}${failing.lastOutput ? html`<pre>${failing.lastOutput}</pre>` : ''}</div>` : ''}`;
}

async function instancesTable(d: DashboardDeps, fn: FunctionRecord, versions: VersionRecord[]): Promise<Html> {
  const instances = d.scheduler.instances(fn.name);
  if (instances.length === 0) return html`<p class="empty">No instance runs now${fn.config.minInstances === 0 ? ' (scaled to zero: the next call starts one)' : ''}.</p>`;
  const memory = (await d.dashboard?.host?.instanceMemory(instances.map((i) => i.id))) ?? new Map<string, number | null>();
  const limit = (v: number) => versions.find((x) => x.version === v)?.config.memoryMb ?? fn.config.memoryMb;
  return html`<table class="grid"><thead><tr><th>Instance</th><th>Version</th><th>State</th><th class="num">In flight</th><th>Start</th><th>Age</th><th>Last used</th><th class="num">Memory</th></tr></thead><tbody>
${instances.map((i) => html`<tr>
  <td><code>${i.id}</code></td><td>v${i.version}</td><td>${badge(i.state)}</td><td class="num">${i.inFlight} / ${i.concurrency}</td>
  <td>${i.startKind === 'stem' ? 'from a stem' : 'new container'}</td><td>${ago(i.startedAt, d.clock.now()).replace(' ago', '')}</td><td>${ago(i.lastUsedAt, d.clock.now())}</td>
  <td class="num">${bytes(memory.get(i.id) ?? null)} / ${limit(i.version)} MB</td>
</tr>`)}
</tbody></table>`;
}

function invocationsTable(d: DashboardDeps, name: string, records: InvocationRecord[]): Html {
  if (records.length === 0) return html`<p class="empty">No invocation kept yet.</p>`;
  return html`<table class="grid"><thead><tr><th>When</th><th>Invocation</th><th>Version</th><th>Trigger</th><th>Status</th><th class="num">Latency</th><th></th></tr></thead><tbody>
${records.map((r) => html`<tr class="inv-${r.outcome}" data-invocation="${r.id}">
  <td>${ago(r.start, d.clock.now())}</td><td><code>${r.id.slice(0, 8)}</code></td><td>v${r.version}</td><td>${r.trigger}${r.attempt && r.attempt > 1 ? ` (attempt ${r.attempt})` : ''}</td>
  <td>${badge(r.outcome)} ${r.statusCode || ''}${r.error ? html` <span class="sub">${r.error}</span>` : ''}</td><td class="num">${latency(r.durationMs)}</td>
  <td><a href="/ui/functions/${seg(name)}/invocations/${seg(r.id)}">logs</a></td>
</tr>`)}
</tbody></table>`;
}

const CHARTS = [
  ['rate', 'Invocations per second'],
  ['latency', 'Latency (ms): p50, p95, p99'],
  ['errors', 'Errors per 10 s'],
  ['cold', 'Cold starts per 10 s'],
  ['instances', 'Instances'],
] as const;

export function chartsSection(): Html {
  return html`<section class="charts" aria-label="The last hour">
${CHARTS.map(([key, title]) => html`<figure class="chart"><figcaption>${title}</figcaption><div class="plot" data-chart="${key}"></div></figure>`)}
</section>`;
}

export function functionBody(d: DashboardDeps, name: string, f: Fragments, session: Session): Html {
  const fn = seg(name);
  return html`${live('fn-head', 'div', f['fn-head']!)}
${chartsSection()}
<div class="cols">
<section class="panel actions" aria-label="Actions">
  <p><a class="button" href="/ui/functions/${fn}/code" id="edit-code">Edit code</a></p>
  <h2>Invoke</h2>
  <form method="post" action="/ui/functions/${fn}/invoke" id="invoke-form" data-ajax>
    ${csrfField(session)}
    <label for="payload">Payload (JSON, the event's data)</label>
    <textarea id="payload" name="payload" rows="4" spellcheck="false">{"hello": "dashboard"}</textarea>
    <button type="submit">Invoke</button>
  </form>
  <div id="invoke-result" aria-live="polite"></div>
  <h2>Roll back</h2>
  <form method="post" action="/ui/functions/${fn}/rollback">
    ${csrfField(session)}
    <label for="rollback-version">To version (empty: the previous good one)</label>
    <input id="rollback-version" name="version" inputmode="numeric" pattern="[0-9]*" placeholder="previous">
    <button type="submit">Roll back</button>
  </form>
  <h2>Scale</h2>
  <form method="post" action="/ui/functions/${fn}/scale" class="inline">
    ${csrfField(session)}
    <label>Min <input name="minInstances" inputmode="numeric" pattern="[0-9]*" size="4"></label>
    <label>Max <input name="maxInstances" inputmode="numeric" pattern="[0-9]*" size="4"></label>
    <button type="submit">Set</button>
  </form>
  <h2>Delete</h2>
  <form method="post" action="/ui/functions/${fn}/delete" class="danger">
    ${csrfField(session)}
    <label for="confirm-name">Type <code>${name}</code> to delete it with its versions, images and records</label>
    <input id="confirm-name" name="confirm" autocomplete="off" required>
    <button type="submit">Delete ${name}</button>
  </form>
</section>
<section class="panel" aria-label="Instances"><h2>Instances</h2>${live('instances', 'div', f.instances!)}</section>
</div>
<section class="panel"><h2>Recent invocations</h2><p><a href="/ui/functions/${fn}/dead-letters" id="dead-letters-link">Dead letters (failed async invocations) and replay</a></p>${live('invocations', 'div', f.invocations!)}</section>
<div class="cols">
<section class="panel"><h2>Builds</h2>${live('builds', 'div', f.builds!)}</section>
<section class="panel"><h2>Versions</h2>${live('versions', 'div', f.versions!)}</section>
</div>
<div class="cols">
<section class="panel"><h2>Triggers</h2>${live('triggers', 'div', f.triggers!)}<p><a href="/ui/functions/${fn}/triggers" id="manage-triggers">Triggers and invoke keys</a> · <a href="/ui/functions/${fn}/traffic" id="manage-traffic">Traffic: canary, promote, roll back</a></p></section>
<section class="panel"><h2>Usage</h2>${live('usage', 'div', f.usage!)}</section>
</div>`;
}
