// What pods write, followed through the pod log API (GET …/pods/NAME/log?follow=true&timestamps=true,
// @kubernetes/client-node's Log): one stream per running instance, opened only while someone listens, split
// into lines. Each line starts with the kubelet's RFC 3339 timestamp, which is the line's time; the API does
// not tell stdout from stderr, so every line is reported as stdout (the runtime's own lines carry their level).
// A stream ends by itself when the pod's container ends; untrack() lets it finish its last bytes briefly.
// Which instances are followed, and when a stream is open, is followed-logs.ts's bookkeeping.

import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Log, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../core/log.js';
import { apiFailure } from './kubernetes-api.js';
import { CONTAINER_NAME, podName } from './kubernetes-spec.js';
import { FollowedLogs, type FollowedInstance } from './followed-logs.js';

const MAX_LINE_CHARS = 16 * 1024;
const RETRY_MS = 1000;
const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) /;

/** A line of the log API: its timestamp (epoch ms, or null when the line carries none) and its text. */
export function splitTimestamp(line: string): { time: number | null; text: string } {
  const m = TIMESTAMP.exec(line);
  if (!m) return { time: null, text: line };
  const t = Date.parse(m[1]!);
  return { time: Number.isNaN(t) ? null : t, text: line.slice(m[0].length) };
}

/** Follows each instance's pod through the log API, from an RFC 3339 time (a pod found running: now); null: from the container's start. */
export class PodLogStreams extends FollowedLogs<string | null, AbortController> {
  readonly #logApi: Log;

  constructor(
    kubeConfig: KubeConfig,
    private readonly namespace: string,
    log: Logger,
  ) {
    // A failed open (API server unavailable) is tried again after RETRY_MS while someone listens.
    super(log, null, RETRY_MS);
    this.#logApi = new Log(kubeConfig);
  }

  protected sinceNow(): string {
    return new Date().toISOString();
  }

  protected async openStream(f: FollowedInstance<string | null>, ended: () => void): Promise<AbortController | null> {
    const decoder = new StringDecoder('utf8');
    let partial = '';
    const line = (raw: string) => {
      const { time, text } = splitTimestamp(raw);
      this.emit({ instanceId: f.instanceId, function: f.function, version: f.version, stream: 'stdout', text, time: time ?? Date.now() });
    };
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
        ended();
        done();
      },
    });
    // The Log class pipes the response into the sink; an abort makes the response emit 'error', which must
    // have a listener (an unheard 'error' event would throw).
    sink.on('pipe', (src) => src.on('error', () => {}));
    sink.on('error', () => {});
    try {
      const opts = { follow: true, timestamps: true, ...(f.since ? { sinceTime: f.since } : {}) };
      return await this.#logApi.log(this.namespace, podName(f.instanceId), CONTAINER_NAME, sink, opts);
    } catch (err) {
      // 404: the pod is gone; 400: its container is not running (any more): nothing more to follow.
      const code = apiFailure(err).code;
      if (code === 404 || code === 400) return null;
      throw err;
    }
  }

  protected openFailed(f: FollowedInstance<string | null>, err: unknown): void {
    this.log.warn('cannot follow pod logs; trying again', { instanceId: f.instanceId, code: apiFailure(err).code, error: err as Error });
  }

  protected abortStream(controller: AbortController): void {
    controller.abort();
  }
}
