// What a notification says in words and links (an email's subject, a webhook's payload): the events
// themselves and the Notifier port are core/ports/notifier.ts's.

import type { NotifyEvent, NotifyEventInput } from '../../core/ports/notifier.js';

/** One line a person reads first (an email's subject, the payload's `summary`). */
export function summarize(e: NotifyEventInput): string {
  const v = e.version === null ? '' : ` v${e.version}`;
  switch (e.kind) {
    case 'build.failed':
      return `build of ${e.function}${v} failed: ${firstLine(e.data.error)}`;
    case 'checks.failed':
      return `checks of ${e.function}${v} failed: ${firstLine(e.data.summary)}`;
    case 'rollout.abandoned':
      return `rollout of ${e.function} to v${e.data.to} (${e.data.alias}) abandoned: ${firstLine(e.data.reason)}`;
    case 'rollback':
      return `${e.function} (${e.data.alias}) rolled back ${e.data.automatic ? 'automatically' : 'by hand'} from v${e.data.from} to v${e.data.to}: ${firstLine(e.data.reason)}`;
    case 'error-rate.high':
      return `${e.function}${v} error rate ${pct(e.data.errorRate)} over ${Math.round(e.data.windowMs / 1000)} s (threshold ${pct(e.data.threshold)}, ${e.data.requests} requests)`;
  }
}

/** API paths a reader follows from the event: absolute when the platform knows its public URL. */
export function linksOf(e: NotifyEventInput, baseUrl: string | undefined): Record<string, string> {
  const base = (baseUrl ?? '').replace(/\/+$/, '');
  const links: Record<string, string> = { function: `/v1/functions/${e.function}` };
  if (e.kind === 'build.failed' || e.kind === 'checks.failed') {
    links.build = `/v1/builds/${e.data.buildId}`;
    links.buildLog = `/v1/builds/${e.data.buildId}/logs`;
  }
  if (e.kind === 'error-rate.high' || e.kind === 'rollback') links.logs = `/v1/functions/${e.function}/logs`;
  return Object.fromEntries(Object.entries(links).map(([k, p]) => [k, base + p]));
}

/** The JSON every webhook receives (docs/pipeline.md, "Notifications"): the same bytes in every attempt. */
export function payloadOf(e: NotifyEvent, baseUrl: string | undefined): Record<string, unknown> {
  return { id: e.id, type: e.kind, time: e.time, function: e.function, version: e.version, summary: summarize(e), data: e.data, links: linksOf(e, baseUrl) };
}

const firstLine = (s: string): string => {
  const line = s.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > 300 ? `${line.slice(0, 299)}…` : line.trim();
};
const pct = (r: number): string => `${(r * 100).toFixed(1)} %`;
