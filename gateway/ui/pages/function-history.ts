// What made a function what it is: its builds (each opening its log and check report), its versions with
// their origin and the aliases serving them, its triggers with their last fires, and its metered usage.

import type { WeightedVersion } from '../../../core/aliases.js';
import { usageReport } from '../../../core/store/usage-report.js';
import type { TriggerRecord } from '../../../core/triggers.js';
import type { BuildRecord, FunctionRecord, Origin, VersionRecord } from '../../../core/types.js';
import type { FireView } from '../../../control/triggers/trigger-service.js';
import type { DashboardDeps } from '../deps.js';
import { ago, badge, duration, html, seg, type Html } from '../html.js';

export function origin(o: Origin | undefined): Html {
  if (!o) return html`–`;
  if (o.kind !== 'git') return html`${o.kind}`;
  return html`git <code>${(o.commit ?? '').slice(0, 8)}</code>${o.message ? html` <span class="sub">${o.message}</span>` : ''}`;
}

export function buildsTable(d: DashboardDeps, builds: BuildRecord[]): Html {
  if (builds.length === 0) return html`<p class="empty">No build (a version of your own image needs none).</p>`;
  return html`<table class="grid"><thead><tr><th>Build</th><th>Version</th><th>Status</th><th>Origin</th><th>Started</th><th class="num">Took</th></tr></thead><tbody>
${builds.map((b) => {
    const took = b.finishedAt && b.startedAt ? Date.parse(b.finishedAt) - Date.parse(b.startedAt) : null;
    return html`<tr>
  <td><a href="/ui/builds/${seg(b.id)}"><code>${b.id.slice(0, 8)}</code></a></td><td>v${b.version}</td>
  <td>${badge(b.status)}${b.failedStage ? html` <span class="sub">at ${b.failedStage}</span>` : ''}</td><td>${origin(b.origin)}</td>
  <td>${ago(b.startedAt ?? b.createdAt, d.clock.now())}</td><td class="num">${took === null ? '–' : duration(took)}</td>
</tr>`;
  })}
</tbody></table>`;
}

export function versionsTable(d: DashboardDeps, fn: FunctionRecord, versions: VersionRecord[], aliases: Record<string, WeightedVersion[]>): Html {
  const servedBy = (v: number) => Object.entries(aliases).filter(([, ws]) => ws.some((w) => w.version === v)).map(([a, ws]) => (ws.length > 1 ? `${a} ${ws.find((w) => w.version === v)!.weight}%` : a));
  return html`<table class="grid"><thead><tr><th>Version</th><th>Status</th><th>Origin</th><th>Created</th><th>Aliases</th></tr></thead><tbody>
${[...versions].reverse().slice(0, 20).map((v) => html`<tr${v.version === fn.currentVersion ? html` class="current"` : ''}>
  <td>v${v.version}</td><td>${badge(v.status)}</td><td>${origin(v.origin)}</td><td title="${v.createdAt}">${ago(v.createdAt, d.clock.now())}</td><td>${servedBy(v.version).join(', ')}</td>
</tr>`)}
</tbody></table>`;
}

function describeTrigger(t: TriggerRecord): string {
  switch (t.type) {
    case 'cron': return `${t.schedule} (${t.timezone})`;
    case 'storage': return `${t.source} bucket ${t.bucket}: ${t.events.join(', ')}${t.filter?.prefix ? ` under ${t.filter.prefix}` : ''}${t.filter?.suffix ? ` ending ${t.filter.suffix}` : ''}`;
    case 'http': return `${t.auth === 'key' ? 'invoke key' : 'public'}${t.methods ? `, ${t.methods.join(' ')}` : ''}${t.cors ? ', CORS' : ''}`;
  }
}

export function triggersTable(d: DashboardDeps, triggers: Array<TriggerRecord & { fires: FireView[]; next?: string[] }>): Html {
  if (triggers.length === 0) return html`<p class="empty">No trigger: the function URL is public and calls it directly.</p>`;
  return html`<table class="grid"><thead><tr><th>Type</th><th>What</th><th>Last fire</th><th>Next</th></tr></thead><tbody>
${triggers.map((t) => {
    const last = t.fires[0];
    return html`<tr><td>${t.type}</td><td>${describeTrigger(t)}</td>
  <td>${last ? html`${ago(last.firedAt, d.clock.now())} ${badge(last.result)}${last.key ? html` <code>${last.key}</code>` : ''}${last.invocation ? html` <span class="sub">${last.invocation.status}</span>` : ''}` : '–'}</td>
  <td>${t.next?.[0] ? ago(t.next[0], d.clock.now()) : '–'}</td></tr>`;
  })}
</tbody></table>`;
}

/** The last 24 hours of metered usage, as GET /v1/usage reads it (GB-seconds as a cloud bills them). */
export async function usagePanel(d: DashboardDeps, name: string): Promise<Html> {
  const to = d.clock.now();
  const rows = await d.store.readUsage({ function: name, fromMs: to - 24 * 3600_000, toMs: to }).catch(() => null);
  if (rows === null) return html`<p class="empty">Usage could not be read just now.</p>`;
  const { total } = usageReport(rows, { granularity: 'day', fromMs: to - 24 * 3600_000, toMs: to }, d.config.usage.price);
  return html`<dl class="facts">
  <div><dt>Requests, 24 h</dt><dd>${total.requests}</dd></div>
  <div><dt>Failed</dt><dd>${total.failed}</dd></div>
  <div><dt>Billed</dt><dd>${total.gbSeconds} GB-s</dd></div>
  ${total.cost ? html`<div><dt>Cost</dt><dd>${total.cost.total}</dd></div>` : ''}
</dl>`;
}
