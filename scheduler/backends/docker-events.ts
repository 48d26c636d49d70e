// One Docker events stream per backend (not one per listener): container die/oom events of this
// platform's containers, parsed line by line. It is opened on the first subscription, re-opened with
// `since` when the daemon drops it, and ended by close().

import type Docker from 'dockerode';
import type { Logger } from '../../core/log.js';
import { LABEL } from './docker-spec.js';

export interface ContainerEvent {
  action: 'die' | 'oom';
  instanceId: string;
  /** Set on die events. */
  exitCode: number | null;
}

interface RawEvent {
  Type?: string;
  Action?: string;
  status?: string;
  time?: number;
  Actor?: { Attributes?: Record<string, string> };
}

const RECONNECT_MS = 1000;

export class DockerEventStream {
  readonly #listeners = new Set<(e: ContainerEvent) => void>();
  #stream: NodeJS.ReadableStream | null = null;
  #opening = false;
  #closed = false;
  #reconnect: NodeJS.Timeout | null = null;
  #lastEventTime: number | null = null;

  constructor(
    private readonly docker: Docker,
    private readonly platformId: string,
    private readonly log: Logger,
  ) {}

  subscribe(listener: (e: ContainerEvent) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#stream && !this.#opening && !this.#reconnect) void this.#open();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Resolves once the stream is connected (tests use it to not miss an event raised right away). */
  async ready(): Promise<void> {
    while (!this.#closed && !this.#stream) await new Promise((r) => setTimeout(r, 5));
  }

  close(): void {
    this.#closed = true;
    if (this.#reconnect) clearTimeout(this.#reconnect);
    this.#reconnect = null;
    this.#destroy();
    this.#listeners.clear();
  }

  #destroy(): void {
    const s = this.#stream as (NodeJS.ReadableStream & { destroy?: () => void }) | null;
    this.#stream = null;
    s?.removeAllListeners();
    s?.on('error', () => {});
    s?.destroy?.();
  }

  async #open(): Promise<void> {
    this.#opening = true;
    try {
      const stream = await this.docker.getEvents({
        ...(this.#lastEventTime ? { since: this.#lastEventTime } : {}),
        filters: { type: ['container'], event: ['die', 'oom'], label: [`${LABEL.platform}=${this.platformId}`] },
      });
      if (this.#closed) {
        (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        return;
      }
      this.#stream = stream;
      let buf = '';
      stream.on('data', (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) this.#handleLine(line);
        }
      });
      const lost = (err?: Error) => {
        if (this.#stream !== stream) return;
        this.log.warn('docker events stream ended; reconnecting', { error: err?.message });
        this.#stream = null;
        this.#scheduleReconnect();
      };
      stream.on('error', lost);
      stream.on('end', () => lost());
    } catch (err) {
      this.log.warn('cannot open docker events stream; retrying', { error: (err as Error).message });
      this.#scheduleReconnect();
    } finally {
      this.#opening = false;
    }
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnect || this.#listeners.size === 0) return;
    this.#reconnect = setTimeout(() => {
      this.#reconnect = null;
      void this.#open();
    }, RECONNECT_MS);
  }

  #handleLine(line: string): void {
    let raw: RawEvent;
    try {
      raw = JSON.parse(line) as RawEvent;
    } catch {
      this.log.warn('unparseable docker event', { line: line.slice(0, 200) });
      return;
    }
    if (raw.time) this.#lastEventTime = raw.time;
    const action = raw.Action ?? raw.status;
    const attrs = raw.Actor?.Attributes ?? {};
    const instanceId = attrs[LABEL.instance];
    if ((action !== 'die' && action !== 'oom') || !instanceId) return;
    const code = attrs.exitCode;
    const event: ContainerEvent = { action, instanceId, exitCode: code === undefined ? null : Number(code) };
    for (const l of [...this.#listeners]) {
      try {
        l(event);
      } catch (err) {
        this.log.error('exit listener threw', { error: err as Error });
      }
    }
  }
}
