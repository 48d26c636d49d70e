// The load loop: node:http with a keep-alive agent per target, a closed loop of `concurrency` callers,
// bounded both in requests and in time. Same code for the gateway and the direct container, so the
// only difference measured is the hop.

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { sleep } from './stats.js';

/** Where a request goes: a loopback port or a unix socket, never another address. */
export type Address = { host: '127.0.0.1'; port: number } | { socketPath: string };

export interface Target {
  address: Address;
  path: string;
}

export interface Answer {
  status: number;
  ms: number;
  body: string;
}

export function newAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

/** One GET; resolves with status 0 on a network error (counted by callers, never thrown). */
export function get(agent: http.Agent | false, target: Target, timeoutMs = 30_000): Promise<Answer> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request({ ...target.address, agent, path: target.path, method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve({ status: 0, ms: performance.now() - t0, body: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, ms: performance.now() - t0, body: err.message }));
    req.end();
  });
}

export interface LoadOptions {
  concurrency: number;
  durationMs: number;
  maxRequests: number;
  /** Per-request timeout; a request past it counts as an error. */
  timeoutMs?: number;
}

export interface LoadResult {
  latenciesMs: Float64Array;
  ok: number;
  errors: number;
  /** Non-2xx statuses and network errors (status 0) by count, for the report. */
  errorStatuses: Record<string, number>;
  elapsedMs: number;
  rps: number;
}

/** A closed loop: each caller sends its next request when the previous one is answered. */
export async function runLoad(target: Target, opts: LoadOptions, agent = newAgent(opts.concurrency)): Promise<LoadResult> {
  const latencies = new Float64Array(opts.maxRequests);
  let issued = 0;
  let ok = 0;
  const errorStatuses: Record<string, number> = {};
  const t0 = performance.now();
  const until = t0 + opts.durationMs;
  const caller = async () => {
    while (issued < opts.maxRequests && performance.now() < until) {
      const slot = issued++;
      const a = await get(agent, target, opts.timeoutMs);
      latencies[slot] = a.ms;
      if (a.status >= 200 && a.status < 300) ok++;
      else errorStatuses[String(a.status)] = (errorStatuses[String(a.status)] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, caller));
  const elapsedMs = performance.now() - t0;
  const errors = issued - ok;
  return { latenciesMs: latencies.subarray(0, issued), ok, errors, errorStatuses, elapsedMs, rps: (issued / elapsedMs) * 1000 };
}

/**
 * Polls with fresh connections until the target answers 2xx: how a cold container's first answer is
 * timed. Connection refused / no socket yet are retried every `everyMs`; bounded by `timeoutMs` and `signal`.
 */
export async function firstAnswer(target: Target, timeoutMs: number, everyMs = 2, signal?: AbortSignal): Promise<Answer> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw new Error('gave up waiting for a first answer', { cause: signal.reason });
    const a = await get(false, target, Math.max(1, until - performance.now()));
    if (a.status >= 200 && a.status < 300) return a;
    if (performance.now() > until) throw new Error(`no 2xx answer from ${JSON.stringify(target.address)} within ${timeoutMs} ms (last: ${a.status} ${a.body.slice(0, 200)})`);
    await sleep(everyMs);
  }
}
