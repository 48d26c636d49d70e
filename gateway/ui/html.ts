// Server-rendered HTML for the dashboard: one tagged template that escapes every interpolated value unless
// it is itself markup made by this template, so a function name, a log line or a payload can never become
// markup. Formatting helpers beside it, so every page shows times, sizes and latencies the same way.

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function render(v: unknown): string {
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

/** html`<td>${name}</td>`: values are escaped; arrays are joined; null, undefined and false render nothing. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** A path segment for a link: names are validated already, this keeps a link a link whatever comes. */
export const seg = (s: string | number): string => encodeURIComponent(String(s));

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '–';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(s)) return '–';
  if (s < 0) return `in ${duration(-s * 1000)}`;
  if (s === 0) return 'just now';
  return `${duration(s * 1000)} ago`;
}

/** 850 ms, 4.2 s, 3 min, 2 h 5 min, 3 d. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const min = Math.floor(ms / 60_000);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d`;
}

/** A latency: two significant figures below 10 ms, whole ms above. */
export function latency(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(ms < 1 ? 2 : 1)} ms`;
  return duration(ms);
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 && u > 0 ? 1 : 0)} ${units[u]}`;
}

export const percent = (x: number | null): string => (x === null || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(x < 0.1 && x > 0 ? 1 : 0)} %`);

/** A status word as a badge whose colour the stylesheet picks by its class. */
export const badge = (word: string): Html => html`<span class="badge badge-${word.replace(/[^a-z-]/g, '')}">${word}</span>`;
