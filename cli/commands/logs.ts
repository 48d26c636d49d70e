// stratus logs NAME [-f]: what a function's instances wrote. Following polls
// GET /v1/functions/:name/logs?since= and prints what is new until Ctrl-C.
//
// Lines reach the store in batches, stamped when the platform received them, so a line can be stored
// after a later-stamped one was already read. Each poll therefore asks again from OVERLAP_MS before the
// newest line seen and prints only lines not printed yet — counted per identical line, so two equal
// lines in the same millisecond are both printed, once.

import type { Context } from '../context.js';
import { usageError } from '../errors.js';
import { safeLine } from '../terminal-text.js';
import type { Ui } from '../ui.js';

export interface LogLine {
  time: string;
  function: string;
  version: number | null;
  instance: string;
  requestId: string | null;
  level: string;
  stream: 'stdout' | 'stderr';
  message: string;
}

export interface LogsOptions {
  follow?: boolean;
  json?: boolean;
  limit?: string;
  since?: string;
  request?: string;
  interval?: string;
}

const OVERLAP_MS = 5000;
const MAX_LIMIT = 1000;

export async function logs(ctx: Context, name: string, opts: LogsOptions): Promise<void> {
  const client = await ctx.client();
  const limit = opts.limit === undefined ? 100 : Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw usageError(`--limit takes 1 to ${MAX_LIMIT}`);
  const intervalMs = opts.interval === undefined ? 1000 : Number(opts.interval);
  if (!Number.isFinite(intervalMs) || intervalMs < 100) throw usageError('--interval takes milliseconds, at least 100');
  const since = opts.since === undefined ? undefined : sinceTime(opts.since, Date.now());
  const path = `/v1/functions/${encodeURIComponent(name)}/logs`;
  const read = (from: string | undefined, n: number) =>
    client.call<{ logs: LogLine[] }>('GET', path, { query: { limit: n, since: from, requestId: opts.request } }).then((r) => r.logs);

  const first = await read(since, limit);
  const print = (l: LogLine) => (opts.json ? ctx.ui.jsonLine(l) : printLine(ctx.ui, l));
  if (!opts.follow) {
    if (opts.json) return ctx.ui.json({ logs: first });
    first.forEach(print);
    return;
  }
  first.forEach(print);
  const seen = new SeenLines();
  // A first read cut by --limit left older lines out on purpose: the overlap must not bring them back.
  if (first.length >= limit) seen.floor = first[0]?.time;
  seen.add(first);
  // Ctrl-C ends the follow: the default SIGINT action ends the process, which is what is wanted here.
  for (;;) {
    await new Promise((r) => setTimeout(r, intervalMs));
    const from = seen.newest === undefined ? (since ?? new Date(Date.now() - OVERLAP_MS).toISOString()) : new Date(Date.parse(seen.newest) - OVERLAP_MS).toISOString();
    const fresh = seen.unseen(await read(from, MAX_LIMIT));
    fresh.forEach(print);
    seen.add(fresh);
  }
}

/** Counts of printed lines by identity, kept for the overlap window only. */
export class SeenLines {
  #counts = new Map<string, { time: string; n: number }>();
  newest: string | undefined;
  /** Lines older than this are never printed (see the first read in logs()). */
  floor: string | undefined;

  static key(l: LogLine): string {
    return JSON.stringify([l.time, l.instance, l.requestId, l.stream, l.message]);
  }

  /** The lines of a read not printed yet: per identity, those beyond the count already printed. */
  unseen(lines: LogLine[]): LogLine[] {
    const inRead = new Map<string, number>();
    return lines.filter((l) => {
      if (this.floor !== undefined && l.time < this.floor) return false;
      const k = SeenLines.key(l);
      const n = (inRead.get(k) ?? 0) + 1;
      inRead.set(k, n);
      return n > (this.#counts.get(k)?.n ?? 0);
    });
  }

  add(lines: LogLine[]): void {
    for (const l of lines) {
      const k = SeenLines.key(l);
      this.#counts.set(k, { time: l.time, n: (this.#counts.get(k)?.n ?? 0) + 1 });
      if (this.newest === undefined || l.time > this.newest) this.newest = l.time;
    }
    if (this.newest === undefined) return;
    const cutoff = new Date(Date.parse(this.newest) - 2 * OVERLAP_MS).toISOString();
    for (const [k, v] of this.#counts) if (v.time < cutoff) this.#counts.delete(k);
  }
}

/** --since: an ISO time, or a span back from now: 30s, 5m, 2h, 1d. */
export function sinceTime(value: string, now: number): string {
  const m = /^(\d+)(s|m|h|d)$/.exec(value);
  if (m) return new Date(now - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']).toISOString();
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw usageError(`--since takes an ISO time (2026-01-31T09:00:00Z) or a span such as 30s, 5m, 2h, 1d, not "${value}"`);
  return new Date(t).toISOString();
}

/** One line as a function wrote it, but shown safe: a function's output must not drive the terminal. */
function printLine(ui: Ui, l: LogLine): void {
  const who = safeLine(`${l.time} ${l.version === null ? '' : `v${l.version} `}${l.requestId ? l.requestId.slice(0, 8) : '-'}`);
  const text = safeLine(l.message);
  ui.line(`${ui.dim(who)} ${l.stream === 'stderr' || l.level === 'error' ? ui.bad(text) : text}`);
}
