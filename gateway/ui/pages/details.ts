// A build (status, stages, its log — followed live through the builds router's own event stream — and its
// check report) and an invocation (its record and its log lines).

import { StratusError } from '../../../core/errors.js';
import { TERMINAL_BUILD_STATUSES } from '../../../core/types.js';
import type { DashboardDeps } from '../deps.js';
import { ago, badge, duration, html, latency, seg, type Html } from '../html.js';
import { live } from '../layout.js';
import { origin } from './function-history.js';
import type { Fragments } from './functions.js';

export interface BuildView {
  fragments: Fragments;
  terminal: boolean;
}

export async function buildFragments(d: DashboardDeps, id: string): Promise<BuildView> {
  const b = await d.store.getBuild(id);
  if (!b) throw new StratusError('BUILD_NOT_FOUND', `no build with id ${id}`, { buildId: id });
  const report = await d.store.getBuildReport(id);
  const stages = Object.entries(b.timings);
  const head = html`<h1>Build <code>${b.id.slice(0, 8)}</code> of <a href="/ui/functions/${seg(b.function)}">${b.function}</a> v${b.version} ${badge(b.status)}</h1>
<dl class="facts">
  <div><dt>Origin</dt><dd>${origin(b.origin)}</dd></div>
  <div><dt>Queued</dt><dd>${ago(b.createdAt, d.clock.now())}</dd></div>
  ${stages.map(([stage, ms]) => html`<div><dt>${stage}</dt><dd>${duration(ms)}</dd></div>`)}
</dl>
${b.error ? html`<div class="alert">${b.failedStage ? html`<strong>Failed at ${b.failedStage}:</strong> ` : ''}${b.error}</div>` : ''}`;
  const checks = report?.checks ?? [];
  const reportHtml = checks.length === 0
    ? html`<p class="empty">No check report${TERMINAL_BUILD_STATUSES.includes(b.status) ? '' : ' yet'}.</p>`
    : html`<table class="grid"><thead><tr><th>Tool</th><th>Status</th><th class="num">Took</th><th>Problems</th></tr></thead><tbody>
${checks.map((c) => html`<tr><td>${c.tool}</td><td>${badge(c.status)}${c.reason ? html` <span class="sub">${c.reason}</span>` : ''}</td><td class="num">${duration(c.durationMs)}</td>
<td>${c.problems.length === 0 ? '–' : html`<ul class="problems">${c.problems.slice(0, 50).map((p) => html`<li><code>${p.file ?? ''}${p.line ? `:${p.line}` : ''}${p.column ? `:${p.column}` : ''}</code> ${p.rule ? html`<span class="sub">${p.rule}</span> ` : ''}${p.message}</li>`)}</ul>`}</td></tr>`)}
</tbody></table>`;
  return { fragments: { 'build-head': head, 'build-report': reportHtml }, terminal: TERMINAL_BUILD_STATUSES.includes(b.status) };
}

export async function buildBody(d: DashboardDeps, id: string, { fragments: f, terminal }: BuildView): Promise<Html> {
  // A finished build's log is shown as it is; one still running is followed by the page's script through
  // /ui/api/builds/:id/logs?follow=1 (the /v1 route's own code), which replays it from the start.
  const text = terminal ? (await d.store.readBuildLog(id, 0)).text : '';
  return html`${live('build-head', 'div', f['build-head']!)}
<section class="panel"><h2>Log</h2>
<pre class="log" id="build-log"${terminal ? '' : html` data-follow="/ui/api/builds/${seg(id)}/logs?follow=1"`}>${text}</pre>
${terminal ? '' : html`<noscript><p class="note">Reload to see the log so far.</p></noscript>`}</section>
<section class="panel"><h2>Checks</h2>${live('build-report', 'div', f['build-report']!)}</section>`;
}

export async function invocationFragments(d: DashboardDeps, name: string, id: string): Promise<Fragments> {
  const [record, job, logs] = await Promise.all([
    d.store.getInvocation(id),
    d.asyncInvocations.queue.get(id).catch(() => null),
    d.store.readLogs(name, { requestId: id, limit: 1000 }),
  ]);
  if ((!record || record.function !== name) && (!job || job.function !== name)) {
    throw new StratusError('NOT_FOUND', `no invocation ${id} of ${name}; records are kept for a bounded time`);
  }
  const status = job?.status ?? record?.outcome ?? 'unknown';
  const result = job?.result ?? null;
  const summary = html`<h1>Invocation <code>${id}</code> ${badge(status)}</h1>
<dl class="facts">
  <div><dt>Function</dt><dd><a href="/ui/functions/${seg(name)}">${name}</a>${record ? ` v${record.version}` : ''}</dd></div>
  <div><dt>Trigger</dt><dd>${record?.trigger ?? job?.trigger ?? 'async'}</dd></div>
  <div><dt>Started</dt><dd>${record ? ago(record.start, d.clock.now()) : '–'}</dd></div>
  <div><dt>Latency</dt><dd>${record ? latency(record.durationMs) : '–'}</dd></div>
  <div><dt>Status code</dt><dd>${record?.statusCode ?? result?.statusCode ?? '–'}</dd></div>
  ${job ? html`<div><dt>Attempts</dt><dd>${job.attempts} of ${job.maxAttempts}</dd></div>` : ''}
</dl>
${record?.error ? html`<div class="alert">${record.error}</div>` : ''}
${job?.error ? html`<div class="alert">${job.error.code}: ${job.error.message}</div>` : ''}
${result ? html`<h2>Result</h2><pre class="result" id="invocation-result">${result.body}</pre>` : ''}`;
  const lines = logs.length === 0
    ? html`<p class="empty">No log line (yet: lines reach the store within a second).</p>`
    : html`<pre class="log" id="invocation-log">${logs.map((l) => html`<span class="log-${l.stream}">${l.time.slice(11, 23)} ${l.message}</span>\n`)}</pre>`;
  return { invocation: summary, 'invocation-logs': lines };
}

export function invocationBody(f: Fragments): Html {
  return html`${live('invocation', 'div', f.invocation!)}
<section class="panel"><h2>Logs</h2>${live('invocation-logs', 'div', f['invocation-logs']!)}</section>`;
}
