// The functions list: every function with its serving version, aliases, triggers, state, instances and
// the last five minutes of traffic (this replica's in-memory figures), filtered by the search box.

import { ago, badge, html, latency, percent, seg, type Html } from '../html.js';
import type { DashboardDeps } from '../deps.js';
import { live } from '../layout.js';

export type Fragments = Record<string, Html>;

export async function functionsFragments(d: DashboardDeps, q: string): Promise<Fragments> {
  const needle = q.trim().toLowerCase();
  const all = (await d.service.list()).filter(({ fn }) => needle === '' || fn.name.includes(needle) || (fn.config.runtime ?? '').includes(needle));
  all.sort((a, b) => a.fn.name.localeCompare(b.fn.name));
  const rows = await Promise.all(all.map(async ({ fn, status }) => {
    const triggers = await d.triggers.list(fn.name).catch(() => []);
    const instances = d.scheduler.instances(fn.name);
    const ready = instances.filter((i) => i.state === 'ready').length;
    const s = d.dashboard?.activity?.summary(fn.name);
    const aliases = ['latest', ...Object.keys(fn.aliases ?? {}).filter((a) => a !== 'latest')];
    const state = status === 'ready' ? 'serving' : status;
    return html`<tr data-name="${fn.name}">
      <td><a href="/ui/functions/${seg(fn.name)}">${fn.name}</a><div class="sub">${fn.config.runtime ?? 'image'}</div></td>
      <td>${fn.currentVersion === null ? '–' : `v${fn.currentVersion}`}${fn.latestVersion !== fn.currentVersion ? html`<div class="sub">newest v${fn.latestVersion}</div>` : ''}</td>
      <td>${aliases.join(', ')}</td>
      <td class="num">${triggers.length}</td>
      <td>${badge(state)}</td>
      <td class="num">${instances.length}${instances.length !== ready ? html`<div class="sub">${ready} ready</div>` : ''}</td>
      <td class="num">${s ? s.perSecond.toFixed(s.perSecond < 10 ? 2 : 0) : '–'}</td>
      <td class="num">${latency(s?.p50 ?? null)}</td>
      <td class="num">${latency(s?.p99 ?? null)}</td>
      <td class="num">${percent(s?.errorRate ?? null)}</td>
      <td>${ago(fn.updatedAt, d.clock.now())}</td>
    </tr>`;
  }));
  return {
    'functions-rows': rows.length > 0 ? html`${rows}` : html`<tr><td colspan="11" class="empty">${needle ? `no function matches “${q}”` : 'no function yet: deploy one with the API or `stratus deploy`'}</td></tr>`,
  };
}

export function functionsBody(f: Fragments, q: string): Html {
  return html`<h1>Functions</h1>
<p><a class="button" href="/ui/new" id="create-function">Create function</a></p>
<form method="get" action="/ui/functions" class="search" role="search">
  <input type="search" name="q" value="${q}" placeholder="Search functions" aria-label="Search functions" id="search" autocomplete="off">
  <button type="submit">Search</button>
</form>
<table class="grid" id="functions">
  <thead><tr>
    <th>Function</th><th>Version</th><th>Aliases</th><th class="num">Triggers</th><th>State</th><th class="num">Instances</th>
    <th class="num">req/s</th><th class="num">p50</th><th class="num">p99</th><th class="num">Errors</th><th>Updated</th>
  </tr></thead>
  ${live('functions-rows', 'tbody', f['functions-rows']!)}
</table>
<p class="note">req/s, latency and errors: the last 5 minutes as this Stratus served them.</p>`;
}
