// Following a build as it happens: the log's server-sent events (GET /v1/builds/:id/logs?follow=1), each
// stage shown when it starts ("[install] --- install" in the log), the tools' lines under it, a spinner
// with the stage's running time on a terminal. If the stream breaks before its end event (Stratus
// restarted), the build record is polled until the build ends: the build goes on server-side regardless.
// The log is the tools' output on the uploader's code (npm scripts, tests): every line is shown safe.

import { setTimeout as delay } from 'node:timers/promises';
import type { ApiClient } from './client.js';
import { ApiError } from './client.js';
import { CliError, EXIT } from './errors.js';
import { readSse } from './sse.js';
import { safeLine } from './terminal-text.js';
import { duration, type Ui } from './ui.js';

export interface BuildView {
  id: string;
  function: string;
  version: number;
  status: string;
  timings: Record<string, number>;
  error: string | null;
  image: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  [key: string]: unknown;
}

export const TERMINAL = new Set(['succeeded', 'failed']);
const POLL_MS = 1000;
const LINE = /^\[([^\]]+)\] ?(.*)$/;

export interface FollowOptions {
  /** The tools' output too (npm, docker), not only the stages. */
  verbose?: boolean;
  /** Nothing at all (--json prints the build record instead). */
  silent?: boolean;
  signal?: AbortSignal;
}

/** Lines of the running stage kept to show under a failure when they were not shown as they came. */
const TAIL_LINES = 30;

export async function followBuild(client: ApiClient, ui: Ui, buildId: string, opts: FollowOptions = {}): Promise<BuildView> {
  let stage = 'queued';
  let stageAt = Date.now();
  let tail: string[] = [];
  if (!opts.silent) ui.spin(() => `${stage} ${duration(Date.now() - stageAt)}`);
  const onLine = (line: string) => {
    if (opts.silent || line.trim() === '') return;
    const m = LINE.exec(line);
    const [phase, text] = m ? [m[1]!, m[2]!] : [stage, line];
    if (text === `--- ${phase}`) {
      [stage, stageAt, tail] = [phase, Date.now(), []];
      return ui.line(`${ui.bold('→')} ${safeLine(phase)}`);
    }
    // The closing lines repeat what the summary says.
    if (phase === 'succeeded' || phase === 'failed' || text.trim() === '') return;
    if (opts.verbose) return ui.line(ui.dim(`    ${safeLine(text)}`));
    tail.push(text);
    if (tail.length > TAIL_LINES) tail.shift();
  };
  try {
    let ended = false;
    try {
      const res = await client.stream(`/v1/builds/${encodeURIComponent(buildId)}/logs`, { query: { follow: 1 }, signal: opts.signal });
      for await (const ev of readSse(res.body!)) {
        if (ev.event === 'log') ev.data.split('\n').forEach(onLine);
        if (ev.event === 'end') {
          ended = true;
          break;
        }
      }
    } catch (err) {
      if (opts.signal?.aborted) throw interrupted(buildId);
      if (err instanceof ApiError) throw err;
      // Anything else is the stream cut mid-way: the build record says how the build ends (or that
      // Stratus is unreachable, with its own message).
    }
    if (!ended && !opts.silent) ui.warn('the build log stream ended early; waiting for the build record instead');
    for (;;) {
      const build = await readBuild(client, buildId);
      if (TERMINAL.has(build.status)) {
        // A failed check has a report with file and line, shown instead (check-report.ts).
        if (build.status === 'failed' && build.failedStage !== 'check' && tail.length > 0) {
          ui.stopSpinner();
          ui.line(ui.dim(`  last lines of ${safeLine(stage)}:`));
          for (const l of tail) ui.line(ui.dim(`    ${safeLine(l)}`));
        }
        return build;
      }
      await delay(POLL_MS, undefined, { signal: opts.signal }).catch(() => {
        throw interrupted(buildId);
      });
    }
  } finally {
    ui.stopSpinner();
  }
}

/** The build record; a build whose function was deleted meanwhile is gone, and said so. */
export async function readBuild(client: ApiClient, buildId: string): Promise<BuildView> {
  try {
    return await client.call<BuildView>('GET', `/v1/builds/${encodeURIComponent(buildId)}`);
  } catch (err) {
    if (err instanceof ApiError && err.problem.code === 'BUILD_NOT_FOUND') {
      throw new CliError(`build ${buildId} is gone: its function was deleted while it ran, or the id is wrong`);
    }
    throw err;
  }
}

/** "extract 12 ms · install 3.4 s · …" in the order the stages ran. */
export function timingLine(timings: Record<string, number>): string {
  return Object.entries(timings).map(([k, ms]) => `${k} ${duration(ms)}`).join(' · ');
}

function interrupted(buildId: string): CliError {
  return new CliError(`stopped following; the build goes on in Stratus — \`stratus build ${buildId} -f\` follows it again`, EXIT.interrupted);
}
