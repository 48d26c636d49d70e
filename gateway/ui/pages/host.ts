// The host: CPU, memory, containers, the state dir's disk, Redis and the registry, the stem pools, and the
// last hour of every function together.

import type { DashboardDeps } from '../deps.js';
import { badge, bytes, html, latency, percent, type Html } from '../html.js';
import type { Health } from '../host.js';
import { live } from '../layout.js';
import { chartsSection } from './function.js';
import type { Fragments } from './functions.js';

const health = (h: Health) => html`${badge(h.status)}${h.latencyMs !== null ? html` <span class="sub">${latency(h.latencyMs)}</span>` : ''}${h.detail ? html` <span class="sub">${h.detail}</span>` : ''}`;

export async function hostFragments(d: DashboardDeps): Promise<Fragments> {
  const probe = d.dashboard?.host;
  if (!probe) return { 'host-stats': html`<p class="empty">No host probe in this setup.</p>` };
  const h = await probe.snapshot();
  const c = h.containers;
  return {
    'host-stats': html`<div class="tiles">
<section class="tile"><h2>CPU</h2><p class="big">${percent(h.cpu.busy)}</p><p class="sub">${h.cpu.cores} cores · load ${h.cpu.load.map((l) => l.toFixed(2)).join(' ')}</p></section>
<section class="tile"><h2>Memory</h2><p class="big">${bytes(h.memory.total - h.memory.available)} / ${bytes(h.memory.total)}</p><p class="sub">Stratus itself: ${bytes(h.memory.stratusRss)}</p></section>
<section class="tile"><h2>Instances</h2><p class="big">${h.instances}</p><p class="sub">${c ? html`${c.stratus} containers of this Stratus (stems included)${c.running !== null ? ` · ${c.running} running on Docker in all` : ''}` : `the ${h.backend} backend`} · ${h.stems.reduce((n, s) => n + s.ready, 0)} stems ready</p></section>
<section class="tile"><h2>State dir</h2><p class="big">${bytes(h.disk.stateBytes)}${h.disk.stateEntriesCapped ? '+' : ''}</p><p class="sub"><code>${h.disk.path}</code> · ${bytes(h.disk.free)} free of ${bytes(h.disk.total)}</p></section>
<section class="tile"><h2>Redis</h2><p>${health(h.redis)}</p><p class="sub">${h.redis.version ? `version ${h.redis.version}` : ''}${h.redis.usedMemory ? ` · ${bytes(h.redis.usedMemory)} used` : ''} · store: ${h.store}</p></section>
<section class="tile"><h2>Registry</h2><p>${health(h.registry)}</p><p class="sub"><code>${h.registry.address}</code></p></section>
</div>
<section class="panel"><h2>Stem pools</h2>${h.stems.length === 0
    ? html`<p class="empty">No stem pool: no deployed function's runtime needs one yet${h.backend === 'kubernetes' ? ' (Kubernetes uses none)' : ''}.</p>`
    : html`<table class="grid"><thead><tr><th>Runtime</th><th class="num">Ready</th><th class="num">Kept</th></tr></thead><tbody>${h.stems.map((s) => html`<tr><td>${s.runtime}</td><td class="num">${s.ready}</td><td class="num">${s.size}</td></tr>`)}</tbody></table>`}
<p class="note">Backend: ${h.backend}.</p></section>`,
  };
}

export function hostBody(f: Fragments): Html {
  return html`<h1>Host</h1>
${live('host-stats', 'div', f['host-stats']!)}
<h2>Every function, the last hour</h2>
${chartsSection()}`;
}
