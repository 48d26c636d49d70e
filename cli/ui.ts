// Output: tables and short lines for people, the API's JSON untouched for --json, colour and a spinner
// only when stdout is a terminal (a pipe or a CI log gets plain lines, one per event). Text the CLI did
// not write goes through terminal-text.ts before it is printed: table cells and field values here, lines
// where a command puts them together; JSON with its controls escaped (the same value).

import { jsonText, safeCell, safeLine, safeText } from './terminal-text.js';

export interface Stream {
  write(text: string | Uint8Array): unknown;
  isTTY?: boolean;
}

type Cell = string | number | boolean | null | undefined;
/** A field's value, and how to colour it once it is made safe. */
type Field = [label: string, value: Cell, paint?: (s: string) => string];

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR_LINE = '\r\x1b[K';
/** The sequences #paint writes, kept by #net (a capture group, so split() keeps them at odd indexes). */
// eslint-disable-next-line no-control-regex -- the escape sequences are what this finds
const OWN_SGR = /(\x1b\[(?:0|1|2|31|32|36)m)/;

export class Ui {
  readonly tty: boolean;
  readonly #color: boolean;
  #spinner: { text: () => string; frame: number; timer: NodeJS.Timeout } | undefined;

  constructor(private readonly out: Stream, private readonly err: Stream, env: Record<string, string | undefined>) {
    this.tty = out.isTTY === true;
    // NO_COLOR (no-color.org): any non-empty value turns colour off.
    this.#color = this.tty && !env.NO_COLOR && env.TERM !== 'dumb';
  }

  line(text = ''): void {
    this.#aboveSpinner(() => this.out.write(`${this.#net(text)}\n`));
  }

  /** Bytes as they are (a function's answer). */
  raw(data: Uint8Array | string): void {
    this.#aboveSpinner(() => this.out.write(data));
  }

  /** Errors and warnings: stderr, so a pipe of stdout gets only the answer. */
  warn(text: string): void {
    this.#aboveSpinner(() => this.err.write(`${this.#net(text)}\n`));
  }

  json(value: unknown): void {
    this.out.write(`${jsonText(value, 2)}\n`);
  }

  /** One JSON value per line (a followed stream of records). */
  jsonLine(value: unknown): void {
    this.out.write(`${jsonText(value)}\n`);
  }

  /** Headers are the CLI's; every cell is data, shown safe. */
  table(headers: string[], rows: Cell[][]): void {
    const cells = rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : safeCell(String(c)))));
    const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
    const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
    this.line(this.bold(fmt(headers)));
    for (const r of cells) this.line(fmt(r));
  }

  /** Label: value lines, the labels aligned; undefined values are left out. Values are data, shown safe, then painted. */
  fields(pairs: Field[]): void {
    const shown = pairs.filter(([, v]) => v !== undefined);
    const width = Math.max(...shown.map(([k]) => k.length));
    for (const [k, v, paint] of shown) {
      const text = v === null ? '-' : safeCell(String(v));
      this.line(`${this.dim(`${k}:`.padEnd(width + 1))} ${paint ? paint(text) : text}`);
    }
  }

  /**
   * A spinner on a terminal, its text read again at every frame (so it can show a running time);
   * elsewhere nothing, as the caller prints its lines anyway. stopSpinner() must be called.
   */
  spin(text: () => string): void {
    if (!this.tty) return;
    if (this.#spinner) {
      this.#spinner.text = text;
      return;
    }
    const timer = setInterval(() => this.#draw(), 80);
    timer.unref(); // never what keeps the process alive
    this.#spinner = { text, frame: 0, timer };
    this.#draw();
  }

  stopSpinner(): void {
    if (!this.#spinner) return;
    clearInterval(this.#spinner.timer);
    this.#spinner = undefined;
    this.out.write(CLEAR_LINE);
  }

  ok(s: string): string {
    return this.#paint('32', s);
  }
  bad(s: string): string {
    return this.#paint('31', s);
  }
  dim(s: string): string {
    return this.#paint('2', s);
  }
  bold(s: string): string {
    return this.#paint('1', s);
  }

  #paint(code: string, s: string): string {
    return this.#color ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  /**
   * The last guard of line() and warn(): a control character a command let through is shown escaped,
   * but for the colours #paint writes (when colour is on). Commands make their data safe themselves
   * (a newline inside a log line shown as \n); this keeps a missed one from acting on the terminal.
   */
  #net(text: string): string {
    if (!this.#color) return safeText(text);
    return text.split(OWN_SGR).map((part, i) => (i % 2 === 1 ? part : safeText(part))).join('');
  }

  #draw(): void {
    const s = this.#spinner;
    if (!s) return;
    s.frame = (s.frame + 1) % FRAMES.length;
    this.out.write(`${CLEAR_LINE}${this.#paint('36', FRAMES[s.frame]!)} ${safeLine(s.text())}`);
  }

  #aboveSpinner(write: () => void): void {
    if (this.#spinner) this.out.write(CLEAR_LINE);
    write();
    if (this.#spinner) this.#draw();
  }
}

/** "1.2 s", "340 ms". */
export function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** "4.1 KiB". */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** "3m ago" for a table cell; the ISO time stays in --json. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (Number.isNaN(s)) return iso;
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}
