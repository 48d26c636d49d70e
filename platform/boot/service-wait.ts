// Start-up's rule for Redis and Docker: fall back to the embedded default (in-memory store, process
// backend) only when the service is absent from this machine and nothing says it is meant to be used.
// Otherwise a service that does not answer yet is waited for — a Redis down for a moment must not turn
// into an empty store, nor a slow Docker into functions and installs running on the host.
//
// "Meant to be used" is decided by the callers (open-store.ts, open-backend.ts); the signs they read
// live here: a marker in the state dir left by every start that used the service, and a binary on PATH.

import { constants as fsc, promises as fs } from 'node:fs';
import path from 'node:path';
import { StratusError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { StateLayout } from '../../core/state-layout.js';

export type BootService = 'redis' | 'docker';

export interface BootOptions {
  /** Ends a wait early (the wait then rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Time between attempts while waiting (default 1 s). */
  retryMs?: number;
  /** Time between the warnings repeated while waiting (default 5 s). */
  remindMs?: number;
}

export interface WaitFor extends BootOptions {
  /** "Redis at redis://127.0.0.1:6379": the subject of every message. */
  what: string;
  /** Why this is waited for rather than replaced, and what the operator can do, in one sentence or two. */
  why: string;
  /** One attempt to reach the service; true once it answers. */
  attempt: () => Promise<boolean>;
  /** 0: no bound. Past it start-up fails, naming `field`. */
  maxWaitMs: number;
  field: string;
  logger: Logger;
}

/** The path of the marker that records that this state dir's platform used the service. */
export function markerPath(stateDir: string, service: BootService): string {
  return new StateLayout(stateDir).usedMarker(service);
}

/** Records that the platform of this state dir runs on the service: it is never replaced silently later. */
export async function markUsed(stateDir: string, service: BootService, where: string): Promise<void> {
  const file = markerPath(stateDir, service);
  if (await exists(file)) return;
  await fs.mkdir(stateDir, { recursive: true });
  const text = `This Stratus used ${service === 'redis' ? 'Redis' : 'Docker'} (${where}) since ${new Date().toISOString()}.\n` +
    `While this file exists, start-up waits for it instead of falling back. Delete it to allow the fallback.\n`;
  await fs.writeFile(file, text, { mode: 0o644 });
}

/** The marker's path when the platform used the service before, else null. */
export async function usedBefore(stateDir: string, service: BootService): Promise<string | null> {
  const file = markerPath(stateDir, service);
  return (await exists(file)) ? file : null;
}

/** An executable named `binary` in one of PATH's directories, or null. */
export async function findOnPath(binary: string, pathEnv: string): Promise<string | null> {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, binary);
    if (await fs.access(candidate, fsc.X_OK).then(() => true, () => false)) return candidate;
  }
  return null;
}

export async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(() => true, () => false);
}

/**
 * Tries again every retryMs until the service answers, warning at once and then every remindMs. Without
 * a bound (maxWaitMs 0) it waits as long as it takes: under a supervisor, waiting in place beats a
 * restart loop, which hides the cause among restarts and can hit the supervisor's restart limit.
 */
export async function waitForService(o: WaitFor): Promise<void> {
  const retryMs = o.retryMs ?? 1000;
  const remindMs = o.remindMs ?? 5000;
  const started = Date.now();
  let remindAt = 0;
  for (;;) {
    const waited = Date.now() - started;
    if (o.maxWaitMs > 0 && waited >= o.maxWaitMs) {
      throw new StratusError('INVALID_CONFIG', `${o.what} did not answer within ${o.maxWaitMs} ms (STRATUS_SERVICE_WAIT_MS). ${o.why}`, { field: o.field });
    }
    if (waited >= remindAt) {
      const bound = o.maxWaitMs > 0 ? `; giving up after ${Math.round(o.maxWaitMs / 1000)} s` : '';
      o.logger.warn(`*** WAITING for ${o.what}, which does not answer (${Math.round(waited / 1000)} s so far${bound}). ${o.why} ***`);
      remindAt = waited + remindMs;
    }
    await sleep(retryMs, o.signal);
    if (await o.attempt()) {
      o.logger.info(`${o.what} answers now, after ${Math.round((Date.now() - started) / 1000)} s`);
      return;
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    // Not unref'd: while start-up waits, this timer is what keeps the process alive.
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
