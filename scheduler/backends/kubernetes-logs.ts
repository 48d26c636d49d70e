// What pods write, followed through the pod log API (GET …/pods/NAME/log?follow=true&timestamps=true,
// @kubernetes/client-node's Log): one stream per running instance, opened only while someone listens, split
// into lines. Each line starts with the kubelet's RFC 3339 timestamp, which is the line's time; the API does
// not tell stdout from stderr, so every line is reported as stdout (the runtime's own lines carry their level).
// A stream ends by itself when the pod's container ends; untrack() lets it finish its last bytes briefly.

import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Log, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../core/log.js';
import type { InstanceLogLine } from './backend.js';
import { apiFailure } from './kubernetes-api.js';
import { CONTAINER_NAME, podName } from './kubernetes-spec.js';

type Listener = (entry: InstanceLogLine) => void;

const MAX_LINE_CHARS = 16 * 1024;
const LINGER_MS = 1000;
const RETRY_MS = 1000;
const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) /;

interface Followed {
  instanceId: string;
  function: string | null;
  version: number | null;
  /** RFC 3339 time to follow from (a pod found running: now); null: from the container's start. */
  since: string | null;
  controller: AbortController | null;
  opening: boolean;
  ended: boolean;
  linger: NodeJS.Timeout | null;
  /** A failed open (API server unavailable) is tried again after RETRY_MS while someone listens. */
  retry: NodeJS.Timeout | null;
}

/** A line of the log API: its timestamp (epoch ms, or null when the line carries none) and its text. */
export function splitTimestamp(line: string): { time: number | null; text: string } {
  const m = TIMESTAMP.exec(line);
  if (!m) return { time: null, text: line };
  const t = Date.parse(m[1]!);
  return { time: Number.isNaN(t) ? null : t, text: line.slice(m[0].length) };
}

export class PodLogStreams {
  readonly #followed = new Map<string, Followed>();
  readonly #listeners = new Set<Listener>();
  readonly #logApi: Log;
  #closed = false;

  constructor(
    kubeConfig: KubeConfig,
    private readonly namespace: string,
    private readonly log: Logger,
  ) {
    this.#logApi = new Log(kubeConfig);
  }

  track(instanceId: string, fn: string | null, version: number | null, since: string | null = null): void {
    if (this.#closed) return;
    const known = this.#followed.get(instanceId);
    if (known) {
      if (fn !== null) this.specialize(instanceId, fn, version);
      return;
    }
    const f: Followed = { instanceId, function: fn, version, since, controller: null, opening: false, ended: false, linger: null, retry: null };
    this.#followed.set(instanceId, f);
    if (this.#listeners.size > 0) void this.#open(f);
  }

  specialize(instanceId: string, fn: string, version: number | null): void {
    const f = this.#followed.get(instanceId);
    if (!f) return;
    f.function = fn;
    f.version = version;
  }

  untrack(instanceId: string): void {
    const f = this.#followed.get(instanceId);
    if (!f || f.linger) return;
    if (!f.controller) return this.#drop(f);
    f.linger = setTimeout(() => this.#drop(f), LINGER_MS);
    f.linger.unref();
  }

  subscribe(listener: Listener): () => void {
    if (this.#closed) return () => {};
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) for (const f of this.#followed.values()) if (!f.linger) void this.#open(f);
    return () => {
      if (!this.#listeners.delete(listener) || this.#listeners.size > 0) return;
      const now = new Date().toISOString();
      for (const f of this.#followed.values()) {
        this.#abort(f);
        f.since = now;
      }
    };
  }

  get openStreams(): number {
    let n = 0;
    for (const f of this.#followed.values()) if (f.controller) n++;
    return n;
  }

  close(): void {
    this.#closed = true;
    for (const f of this.#followed.values()) {
      if (f.linger) clearTimeout(f.linger);
      this.#abort(f);
    }
    this.#followed.clear();
    this.#listeners.clear();
  }

  async #open(f: Followed): Promise<void> {
    if (f.controller || f.opening || f.ended) return;
    f.opening = true;
    const decoder = new StringDecoder('utf8');
    let partial = '';
    const line = (raw: string) => {
      const { time, text } = splitTimestamp(raw);
      this.#emit({ instanceId: f.instanceId, function: f.function, version: f.version, stream: 'stdout', text, time: time ?? Date.now() });
    };
    let controller: AbortController | null = null;
    const sink = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        let text = partial + decoder.write(chunk);
        let start = 0;
        let nl: number;
        while ((nl = text.indexOf('\n', start)) >= 0) {
          line(text.slice(start, nl));
          start = nl + 1;
        }
        text = text.slice(start);
        if (text.length >= MAX_LINE_CHARS) {
          line(text);
          text = '';
        }
        partial = text;
        done();
      },
      final: (done) => {
        const rest = partial + decoder.end();
        if (rest) line(rest);
        // The container ended: its stream is complete and is never reopened (it would replay everything).
        if (f.controller === controller) {
          f.controller = null;
          f.ended = true;
          if (f.linger) this.#drop(f);
        }
        done();
      },
    });
    // The Log class pipes the response into the sink; an abort makes the response emit 'error', which must
    // have a listener (an unheard 'error' event would throw).
    sink.on('pipe', (src) => src.on('error', () => {}));
    sink.on('error', () => {});
    try {
      const opts = { follow: true, timestamps: true, ...(f.since ? { sinceTime: f.since } : {}) };
      controller = await this.#logApi.log(this.namespace, podName(f.instanceId), CONTAINER_NAME, sink, opts);
    } catch (err) {
      const failure = apiFailure(err);
      // 404: the pod is gone; 400: its container is not running (any more): nothing more to follow.
      if (failure.code === 404 || failure.code === 400) f.ended = true;
      else {
        this.log.warn('cannot follow pod logs; trying again', { instanceId: f.instanceId, code: failure.code, error: err as Error });
        if (!f.retry && !this.#closed) {
          // From where this stream was to start (the container's start, or when it was found): nothing written meanwhile is lost.
          f.retry = setTimeout(() => {
            f.retry = null;
            if (!this.#closed && this.#listeners.size > 0 && this.#followed.get(f.instanceId) === f && !f.linger) void this.#open(f);
          }, RETRY_MS);
          f.retry.unref();
        }
      }
      return;
    } finally {
      f.opening = false;
    }
    if (this.#closed || this.#listeners.size === 0 || this.#followed.get(f.instanceId) !== f) {
      controller.abort();
      return;
    }
    if (!f.ended) f.controller = controller;
  }

  #emit(entry: InstanceLogLine): void {
    for (const l of this.#listeners) {
      try {
        l(entry);
      } catch (err) {
        this.log.error('log listener threw', { error: err as Error });
      }
    }
  }

  #abort(f: Followed): void {
    if (f.retry) clearTimeout(f.retry);
    f.retry = null;
    const c = f.controller;
    f.controller = null;
    c?.abort();
  }

  #drop(f: Followed): void {
    if (f.linger) clearTimeout(f.linger);
    f.linger = null;
    this.#abort(f);
    if (this.#followed.get(f.instanceId) === f) this.#followed.delete(f.instanceId);
  }
}
