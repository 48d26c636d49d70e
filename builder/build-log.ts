// The build log as the user reads it: lines prefixed with their phase ("[install] added 1 package").
// Writes are batched (a flush every FLUSH_MS or past FLUSH_BYTES) so that npm's chatter is a handful
// of store calls, not one Redis round trip per chunk.

import type { Logger } from '../core/log.js';
import type { Store } from '../core/store/store.js';

const FLUSH_MS = 250;
const FLUSH_BYTES = 16 * 1024;
/** A runaway install must not fill Redis: past this the log only notes that it was cut. */
const MAX_LOG_BYTES = 2 * 1024 * 1024;
/** Line ends as a terminal (and an event stream) sees them. */
const LINE_BREAK = /\r\n|\r|\n/;

export class BuildLog {
  #buffer = '';
  #partial = new Map<string, string>();
  #written = 0;
  #truncated = false;
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(private readonly store: Store, private readonly buildId: string, private readonly logger: Logger) {}

  /** One or more complete lines of a phase. */
  line(phase: string, text: string): void {
    for (const l of text.split(LINE_BREAK)) this.#push(`[${phase}] ${l}\n`);
  }

  /**
   * A raw chunk of tool output: split into lines, the unfinished tail kept until more arrives. A lone
   * "\r" (a progress bar redrawing its line) ends a line too, so every stored line starts with its
   * phase; the "\r\n" split across two chunks leaves an empty line, which is dropped.
   */
  chunk(phase: string, data: Buffer | string): void {
    const text = (this.#partial.get(phase) ?? '') + data.toString();
    const lines = text.split(LINE_BREAK);
    this.#partial.set(phase, lines.pop() ?? '');
    for (const l of lines) if (l.trim() !== '') this.#push(`[${phase}] ${l}\n`);
  }

  /** Writes out whatever is pending, unfinished tails included. Safe to call at any time. */
  async flush(): Promise<void> {
    for (const [phase, tail] of this.#partial) if (tail.trim() !== '') this.#push(`[${phase}] ${tail}\n`);
    this.#partial.clear();
    this.#writeNow();
    await this.#chain;
  }

  #push(line: string): void {
    if (this.#truncated) return;
    if (this.#written + this.#buffer.length + line.length > MAX_LOG_BYTES) {
      this.#truncated = true;
      this.#buffer += '[log] … the build log is longer than 2 MB; the rest is left out\n';
    } else {
      this.#buffer += line;
    }
    if (this.#buffer.length >= FLUSH_BYTES) this.#writeNow();
    else this.#timer ??= setTimeout(() => this.#writeNow(), FLUSH_MS);
  }

  #writeNow(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#buffer === '') return;
    const text = this.#buffer;
    this.#buffer = '';
    this.#written += text.length;
    // Appends are chained so the log keeps its order even when a flush overtakes a timer write.
    this.#chain = this.#chain.then(() =>
      this.store.appendBuildLog(this.buildId, text).catch((err: unknown) => this.logger.warn('could not append to the build log', { buildId: this.buildId, err })),
    );
  }
}
