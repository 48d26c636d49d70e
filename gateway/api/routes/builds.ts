// /v1/builds/:id, its check report, and its log, plain or followed as server-sent events. A follower
// polls the store from a byte offset, so it works the same whichever replica runs the build.

import type { ServerResponse } from 'node:http';
import express, { type Router } from 'express';
import { z } from 'zod';
import { StratusError } from '../../../core/errors.js';
import type { Logger } from '../../../core/log.js';
import type { Store } from '../../../core/store/store.js';
import { TERMINAL_BUILD_STATUSES } from '../../../core/types.js';
import { parseQuery } from './query.js';

/** The query of GET /v1/builds/:id/logs (also its description in the OpenAPI document). */
export const buildLogQuerySchema = z.object({
  follow: z.enum(['1', 'true', '0', 'false'], { error: 'must be 1 or true (stream the log as server-sent events until the build ends), 0 or false' }).optional().meta({ description: '1 or true: stream the log as server-sent events (`log`, then one `end`) until the build ends' }),
});

export interface BuildsRoute {
  router: Router;
  /** Ends every followed log stream (their poll timers with them). */
  close(): void;
}

/**
 * One SSE event; multi-line data becomes one data: line each, which the client joins back with "\n".
 * An event stream ends a line at "\r\n", "\r" or "\n" alike (HTML, server-sent events): every one of
 * them in the data must start a new data: line, or build output holding a lone "\r" could start a
 * line of its own ("event: end") and forge an event. A lone "\r" therefore reaches the client as "\n".
 */
export function sseEvent(event: string, data: string): string {
  if (/[\r\n]/.test(event)) throw new Error(`an SSE event name must be one line: ${JSON.stringify(event)}`);
  return `event: ${event}\n${data.split(/\r\n|\r|\n/).map((l) => `data: ${l}`).join('\n')}\n\n`;
}

/** A polled event stream: `schedule` runs the next poll later, `stop` ends the answer once (also when the client leaves). */
export interface PolledStream {
  readonly stopped: boolean;
  schedule(poll: () => void, ms: number): void;
  stop(): void;
}

/** Opens a server-sent event stream on `res`, held in `streams` until it stops, so an owner can end them all. */
export function openEventStream(res: ServerResponse, streams: Set<() => void>): PolledStream {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
  res.flushHeaders();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    streams.delete(stop);
    res.end();
  };
  streams.add(stop);
  res.on('close', stop);
  return {
    get stopped() {
      return stopped;
    },
    schedule: (poll, ms) => void (stopped || (timer = setTimeout(poll, ms))),
    stop,
  };
}

export function buildsRouter(store: Store, logger: Logger, pollMs: number): BuildsRoute {
  const router = express.Router();
  const followers = new Set<() => void>();

  const requireBuild = async (id: string) => {
    const build = await store.getBuild(id);
    if (!build) throw new StratusError('BUILD_NOT_FOUND', `no build with id ${id}; the upload answer names its build`, { buildId: id });
    return build;
  };

  router.get('/builds/:id', async (req, res) => {
    res.json(await requireBuild(String(req.params.id)));
  });

  // The check stage's report (builder/checks.ts), from the store so any replica serves it. A build that
  // has not reached its checks yet, or ran without them (an image of the user's own), has none: [].
  router.get('/builds/:id/report', async (req, res) => {
    const id = String(req.params.id);
    const build = await requireBuild(id);
    const report = await store.getBuildReport(id);
    res.json({ buildId: id, status: build.status, failedStage: build.failedStage ?? null, checks: report?.checks ?? [] });
  });

  router.get('/builds/:id/logs', async (req, res) => {
    const id = String(req.params.id);
    await requireBuild(id);
    const { follow: given } = parseQuery(buildLogQuerySchema, req.query as Record<string, unknown>);
    const follow = given === '1' || given === 'true';
    if (!follow) {
      const { text } = await store.readBuildLog(id, 0);
      res.type('text/plain; charset=utf-8').send(text);
      return;
    }
    const stream = openEventStream(res, followers);
    let offset = 0;
    const poll = async () => {
      // Status first, then the log: once the status is terminal, the log read after it holds every line.
      const build = await store.getBuild(id);
      const chunk = await store.readBuildLog(id, offset);
      if (stream.stopped) return;
      offset = chunk.nextOffset;
      if (chunk.text) res.write(sseEvent('log', chunk.text));
      if (!build || TERMINAL_BUILD_STATUSES.includes(build.status)) {
        res.write(sseEvent('end', JSON.stringify({ status: build?.status ?? 'deleted', error: build?.error ?? null })));
        return stream.stop();
      }
      stream.schedule(run, pollMs);
    };
    const run = () => {
      poll().catch((err: unknown) => {
        logger.warn('build log follow failed', { buildId: id, err });
        stream.stop();
      });
    };
    run();
  });

  return { router, close: () => [...followers].forEach((stop) => stop()) };
}
