// Readiness poll shared by the backends: GET /healthz through an instance's endpoint until it answers 200.
// A cold start is tens of milliseconds, so the poll is tight (a few ms apart) rather than 100 ms sleeps;
// whether the instance died meanwhile is asked less often, because that check (docker inspect) is costly.
// A backend that can tell when the endpoint appears (a unix socket file, seen by inotify) passes `wake`:
// then nothing is probed at the tight pace until something answers or the hint fires. Six containers
// starting at once on two cores otherwise spend a noticeable share of the CPU they compete for on
// connection attempts to a socket that does not exist yet.

import { watch } from 'node:fs';
import http from 'node:http';
import type { Endpoint } from './backend.js';
import type { Logger } from '../../core/log.js';

/** http.request options that reach an endpoint (unix socket or a 127.0.0.1 port). */
export function endpointRequestOptions(endpoint: Endpoint): Pick<http.RequestOptions, 'socketPath' | 'host' | 'port'> {
  return endpoint.kind === 'unix' ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port };
}

/** One GET /healthz; resolves with the status code, or 0 when nothing answered. Never rejects. */
export function probeHealth(endpoint: Endpoint, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      { ...endpointRequestOptions(endpoint), method: 'GET', path: '/healthz', agent: false, timeout: timeoutMs },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export interface WaitHealthyOptions {
  endpoint: Endpoint;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Delay between two probes. */
  intervalMs?: number;
  /** Tells why the instance is gone (exited, OOM) or null while it may still come up. */
  checkGone?: () => Promise<string | null>;
  /** How often checkGone runs. */
  goneCheckEveryMs?: number;
  /**
   * Subscribes to a hint that the endpoint may have just appeared; returns an unsubscribe. With it,
   * probes that get no answer at all are spaced `quietIntervalMs` apart until the hint fires (or a
   * probe gets an answer), and `intervalMs` apart after that.
   */
  wake?: (notify: () => void) => () => void;
  /** Delay between probes that got no answer, while waiting for the wake hint. */
  quietIntervalMs?: number;
  /**
   * Asked before each probe: false while the endpoint may not be dialled yet (a unix socket not yet
   * sealed, see socket-dir.ts), so nothing connects to what the function alone controls. A throw ends
   * the wait as 'untrusted'.
   */
  admit?: () => Promise<boolean>;
  now?: () => number;
}

/** Why waiting for readiness ended without a healthy instance. */
export class NotHealthyError extends Error {
  constructor(
    readonly reason: 'timeout' | 'gone' | 'aborted' | 'untrusted',
    message: string,
  ) {
    super(message);
    this.name = 'NotHealthyError';
  }
}

/** Sleeps `ms`, or less when aborted or woken (`setWaker` receives the function that ends the pause). */
function pause(ms: number, signal?: AbortSignal, setWaker?: (wake: (() => void) | null) => void): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      setWaker?.(null);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    setWaker?.(done);
  });
}

async function admitted(opts: WaitHealthyOptions): Promise<boolean> {
  if (!opts.admit) return true;
  try {
    return await opts.admit();
  } catch (err) {
    throw new NotHealthyError('untrusted', (err as Error).message);
  }
}

/** Resolves once /healthz answers 200; rejects with NotHealthyError on timeout, death or abort. */
export async function waitUntilHealthy(opts: WaitHealthyOptions): Promise<void> {
  const now = opts.now ?? Date.now;
  const interval = opts.intervalMs ?? 3;
  const goneEvery = opts.goneCheckEveryMs ?? 150;
  const quiet = opts.quietIntervalMs ?? 50;
  const deadline = now() + opts.timeoutMs;
  let nextGoneCheck = now() + goneEvery;
  // Tight probing once the hint fired or anything answered; the hint may come a moment before the
  // runtime listens (bind, then listen), so it switches to the tight pace rather than to one probe.
  let tight = opts.wake === undefined;
  let waker: (() => void) | null = null;
  const unsubscribe = opts.wake?.(() => {
    tight = true;
    waker?.();
  });
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new NotHealthyError('aborted', 'start was aborted');
      const status = (await admitted(opts)) ? await probeHealth(opts.endpoint, Math.max(50, Math.min(1000, deadline - now()))) : 0;
      if (status === 200) return;
      if (status !== 0) tight = true;
      if (opts.checkGone && now() >= nextGoneCheck) {
        const gone = await opts.checkGone();
        if (gone) throw new NotHealthyError('gone', gone);
        nextGoneCheck = now() + goneEvery;
      }
      if (now() >= deadline) {
        const gone = opts.checkGone ? await opts.checkGone() : null;
        if (gone) throw new NotHealthyError('gone', gone);
        throw new NotHealthyError('timeout', `not healthy within ${opts.timeoutMs} ms (last /healthz status: ${status || 'no answer'})`);
      }
      if (tight) await pause(interval, opts.signal);
      else await pause(quiet, opts.signal, (w) => (waker = w));
    }
  } finally {
    unsubscribe?.();
  }
}

/**
 * A `wake` for waitUntilHealthy: fires when an entry appears in (or leaves) `dir`, the host directory
 * where the runtime creates its unix socket. Where the directory cannot be watched (inotify limits)
 * it fires at once, so probing is simply tight from the start.
 */
export function watchSocketDir(dir: string): NonNullable<WaitHealthyOptions['wake']> {
  return (notify) => {
    try {
      const watcher = watch(dir, { persistent: false }, () => notify());
      watcher.on('error', () => notify());
      return () => watcher.close();
    } catch {
      notify();
      return () => {};
    }
  };
}

/** Why a start failed, in words a person can act on; shared by the backends that wait with waitUntilHealthy. */
export function describeNotHealthy(err: unknown, timeoutMs: number): string {
  const reason = err instanceof NotHealthyError ? err.reason : 'timeout';
  switch (reason) {
    case 'gone':
      return `the runtime ${(err as Error).message} before it was ready; see the instance logs`;
    case 'aborted':
      return 'start was aborted';
    case 'untrusted':
      return `its socket cannot be trusted (${(err as Error).message}); the instance was removed`;
    default:
      return `not ready within ${timeoutMs} ms`;
  }
}

/**
 * How a backend logs a failed start. An instance that exited or never answered is its function's own
 * failure (a build's load check of broken code, a crash at import): the owner sees it in the build log and
 * the API, so the platform log says it at info, with no stack of ours. An untrusted socket is an attack
 * and anything else (Docker down, a bug) is ours: warn, the latter with the error.
 */
export function logStartFailure(log: Pick<Logger, 'debug' | 'info' | 'warn'>, fields: Record<string, unknown>, err: unknown): void {
  if (!(err instanceof NotHealthyError)) return log.warn('instance failed to start', { ...fields, error: err as Error });
  const entry = { ...fields, reason: err.message };
  if (err.reason === 'untrusted') log.warn('instance failed to start', entry);
  else if (err.reason === 'aborted') log.debug('instance start aborted', entry);
  else log.info('instance failed to start (its function exited or did not answer)', entry);
}
