// One function invocation proxied to an instance: acquire a lease, stream the request in and the
// response out, and end it exactly once — ok, past the deadline (504), on a crash (502, OOM told apart
// by diagnose), or when the caller goes away. Every path releases the lease and clears its timer.

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { StratusError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { DeployedVersion } from '../core/types.js';
import type { Lease, LeaseOutcome, Scheduler } from '../scheduler/scheduler.js';
import type { GatewayMetrics } from './deps.js';
import { REQUEST_ID_HEADER, sendProblem } from './problem.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Drops hop-by-hop headers, including any the Connection header names for this hop only. */
export function endToEndHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const named = headers.connection ? headers.connection.toLowerCase().split(',').map((s) => s.trim()) : [];
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || k.startsWith('proxy-') || named.includes(k)) continue;
    out[k] = v;
  }
  return out;
}

export interface InvocationContext {
  requestId: string;
  target: DeployedVersion;
  /** Path after /fn/NAME (at least "/"), with the query string. */
  path: string;
  /** ms since epoch, on the same clock the scheduler uses. */
  deadline: number;
  /** performance.now() when the request arrived. */
  arrivedAt: number;
  scheduler: Scheduler;
  metrics: GatewayMetrics;
  logger: Logger;
}

export function proxyInvocation(req: http.IncomingMessage, res: http.ServerResponse, ctx: InvocationContext, timeoutMs: number): void {
  const name = ctx.target.function;
  const aborter = new AbortController();
  let lease: Lease | undefined;
  let upstream: http.ClientRequest | undefined;
  let settled = false;

  const settle = (outcome: LeaseOutcome, status: string) => {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    res.off('close', onClientClose);
    aborter.abort();
    if (outcome !== 'ok') upstream?.destroy();
    lease?.release(outcome);
    const labels = { function: name, status };
    ctx.metrics.invocations.inc(labels);
    ctx.metrics.invocationSeconds.observe(labels, (performance.now() - ctx.arrivedAt) / 1000);
    return true;
  };
  const fail = (outcome: LeaseOutcome, err: StratusError) => {
    if (settle(outcome, err.code)) sendProblem(res, err, ctx.requestId, ctx.logger);
  };

  const timer = setTimeout(() => {
    fail('timeout', new StratusError('FUNCTION_TIMEOUT', `function ${name} did not answer within its timeout of ${timeoutMs} ms; make it faster or raise timeoutMs`, { function: name, timeoutMs }));
  }, timeoutMs);
  const onClientClose = () => {
    if (!res.writableFinished) settle('error', 'CLIENT_CLOSED');
  };
  res.on('close', onClientClose);

  const onUpstreamFailure = async () => {
    const diagnosis = lease ? await lease.diagnose().catch(() => null) : null;
    if (settled) return;
    if (diagnosis?.reason === 'oom') {
      fail('crashed', new StratusError('FUNCTION_OUT_OF_MEMORY', `function ${name} ran out of memory (limit ${ctx.target.config.memoryMb} MB); raise memoryMb`, { function: name, memoryMb: ctx.target.config.memoryMb }));
    } else {
      const how = diagnosis ? `its instance ${diagnosis.reason === 'killed' ? 'was killed' : `exited${diagnosis.exitCode === null ? '' : ` with code ${diagnosis.exitCode}`}`}` : 'the connection to its instance was reset';
      fail('crashed', new StratusError('FUNCTION_CRASHED', `function ${name} crashed before answering (${how}); check its logs`, { function: name }));
    }
  };

  const forward = (acquired: Lease) => {
    const headers = endToEndHeaders(req.headers);
    const peer = req.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${String(req.headers['x-forwarded-for'])}, ${peer}` : peer;
    headers['x-forwarded-proto'] = 'http';
    if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
    headers[REQUEST_ID_HEADER] = ctx.requestId;
    headers['x-stratus-deadline-ms'] = String(ctx.deadline);
    const up = http.request({
      agent: acquired.agent,
      ...acquired.requestOptions,
      method: req.method,
      path: ctx.path,
      headers,
    });
    upstream = up;
    up.on('response', (ures) => {
      if (settled) return void ures.resume();
      if (acquired.coldStart) {
        ctx.metrics.coldStartPhaseSeconds.observe({ kind: acquired.coldStart.kind, phase: 'first_byte' }, (performance.now() - ctx.arrivedAt) / 1000);
      }
      const status = ures.statusCode ?? 502;
      const out = endToEndHeaders(ures.headers);
      delete out[REQUEST_ID_HEADER];
      res.writeHead(status, out);
      ures.pipe(res);
      // A reset mid-body: the caller must see a broken response, not a short one that looks whole.
      ures.on('close', () => {
        if (!ures.complete && settle('crashed', 'FUNCTION_CRASHED')) res.destroy();
      });
      res.on('finish', () => settle('ok', `${Math.floor(status / 100)}xx`));
    });
    up.on('error', () => {
      if (!settled) void onUpstreamFailure();
    });
    req.pipe(up);
  };

  ctx.scheduler.acquire(ctx.target, { deadline: ctx.deadline, signal: aborter.signal }).then(
    (acquired) => {
      if (settled) return acquired.release('ok'); // the caller or the deadline gave up while we waited
      lease = acquired;
      forward(acquired);
    },
    (err: unknown) => {
      if (settled) return;
      const code = err instanceof StratusError ? err.code : 'INTERNAL';
      if (settle('error', code)) sendProblem(res, err, ctx.requestId, ctx.logger);
    },
  );
}
