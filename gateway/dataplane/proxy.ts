// One function invocation proxied to an instance: acquire a lease, stream the request in and the
// response out. Two things end separately, each exactly once:
// - the caller's answer: the instance's response, a 504 at the deadline, a 502 when the instance
//   crashed or sent something that is not valid HTTP (status outside 200–599, bad headers: nothing of it
//   is forwarded), or the caller going away;
// - the lease: only when the instance is done with the call — its response ended (drained and
//   discarded when the caller left or got its 504), its connection broke, the request body never
//   arrived whole (no runtime runs a handler on a partial body), or the handler overran its deadline by
//   HANDLER_GRACE_MS and the instance is recycled ('hung'). So a slot is never free while a handler
//   still runs, and an instance never serves more than `concurrency` calls at once.
//
// This is the warm hot path, so it is written for cost per request (measured with a CPU profile and
// npm run bench): a lease is taken synchronously when a ready instance has a free slot (no promise, no
// AbortController — creating and aborting one costs ~11 µs, more than the rest of our own code);
// headers travel as flat raw arrays (no Object.entries copies, no setHeader per header, and
// writeHead takes its fast path); a bodiless request is ended at once instead of piped; the response
// body is forwarded with a data/end pair and backpressure instead of pipe()'s half-dozen listeners.

import http from 'node:http';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { StratusError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { DeployedVersion } from '../../core/types.js';
import type { Lease, LeaseOutcome, Scheduler } from '../../scheduler/scheduler.js';
import type { InvocationMetrics } from '../../core/ports/metrics.js';
import { setAnswerHeaders, type AnswerHeaders } from './http-policy.js';
import { sendProblem } from '../http/problem.js';
import { copyEndToEnd, forwardedFor, requestFraming } from './proxy-framing.js';
import { HANDLER_GRACE_MS, INVOKE_KEY_HEADER, REQUEST_ID_HEADER } from '../../core/invocation-contract.js';


export { copyEndToEnd, framingProblem } from './proxy-framing.js';

/**
 * Headers the gateway sets itself on the way in: a caller's own values must not reach the function. The
 * invoke key goes too, on every URL: a function never sees its callers' keys (nor another function's).
 */
const SET_BY_GATEWAY_IN = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', REQUEST_ID_HEADER, 'x-stratus-deadline-ms', INVOKE_KEY_HEADER]);
/** On the way out the gateway's request id wins over whatever the function sent. */
const SET_BY_GATEWAY_OUT = new Set([REQUEST_ID_HEADER]);
/** Why a queued acquire is abandoned; a fixed reason, because abort() without one builds a DOMException with a stack. */
const GAVE_UP = new StratusError('INVALID_REQUEST', 'the request ended before an instance was free');

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
  metrics: InvocationMetrics;
  logger: Logger;
  /** After the deadline, how long the handler may still run before its instance is recycled (HANDLER_GRACE_MS). */
  graceMs?: number;
  /** CORS headers that replace the function's own in its answer and go on the gateway's (http-policy.ts); none for most URLs. */
  answerHeaders?: AnswerHeaders;
}

class Invocation {
  lease: Lease | null = null;
  upstream: http.ClientRequest | null = null;
  /** The instance's response, once its head arrived. */
  ures: http.IncomingMessage | null = null;
  /** Set while a queued acquire is pending: aborted if the invocation ends first. */
  aborter: AbortController | null = null;
  /** The caller has its answer, or is gone: counted in the metrics, and nothing more is written to it. */
  answered = false;
  /** The lease went back: the instance is done with the call, or is being recycled. */
  released = false;
  /** The deadline passed with the instance still on the call. */
  late = false;
  status = 0;
  /** The deadline, then (past it, with the instance still on the call) the grace. */
  timer: NodeJS.Timeout;

  constructor(
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    readonly ctx: InvocationContext,
    readonly timeoutMs: number,
  ) {
    this.timer = setTimeout(() => this.onDeadline(), timeoutMs);
    // One listener covers both ends: finished (ok) and closed early (the caller went away).
    res.once('close', () => this.onClientClose());
  }

  /** Counts the caller's outcome, once. */
  answer(status: string): boolean {
    if (this.answered) return false;
    this.answered = true;
    if (this.aborter !== null) this.aborter.abort(GAVE_UP);
    if (this.lease === null) clearTimeout(this.timer); // no instance to watch over
    const labels = { function: this.ctx.target.function, status };
    this.ctx.metrics.invocations.inc(labels);
    this.ctx.metrics.invocationSeconds.observe(labels, (performance.now() - this.ctx.arrivedAt) / 1000);
    return true;
  }

  fail(err: unknown): void {
    if (!this.answer(err instanceof StratusError ? err.code : 'INTERNAL')) return;
    if (this.ctx.answerHeaders) setAnswerHeaders(this.res, this.ctx.answerHeaders);
    sendProblem(this.res, err, this.ctx.requestId, this.ctx.logger);
  }

  /** Gives the slot back, once. */
  release(outcome: LeaseOutcome): void {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.timer);
    this.lease?.release(outcome);
  }

  onDeadline(): void {
    this.late = true;
    const name = this.ctx.target.function;
    const logs = callLogs(name, this.ctx.requestId);
    this.fail(new StratusError('FUNCTION_TIMEOUT', `function ${name} did not answer within its timeout of ${this.timeoutMs} ms; make it faster or raise timeoutMs, and see GET ${logs}`, { function: name, timeoutMs: this.timeoutMs, logs }));
    if (this.lease !== null && !this.released) this.timer = setTimeout(() => this.onGraceOver(), this.ctx.graceMs ?? HANDLER_GRACE_MS);
  }

  onGraceOver(): void {
    if (this.released) return;
    const { ctx, lease } = this;
    ctx.logger.warn(`function ${ctx.target.function}: a handler still ran ${ctx.graceMs ?? HANDLER_GRACE_MS} ms after its timeout; recycling its instance`, { function: ctx.target.function, requestId: ctx.requestId, instance: lease?.instance.instanceId });
    this.release('hung'); // first: what the destroy below causes must not count as a crash of its own
    this.upstream?.destroy();
  }

  onClientClose(): void {
    if (this.res.writableFinished) {
      this.answer(`${Math.floor(this.status / 100)}xx`);
      return;
    }
    this.answer('CLIENT_CLOSED');
    if (this.lease === null || this.released) return;
    if (!this.req.complete) {
      // The body never arrived whole, so no handler runs on it: the call ends here, slot and all.
      this.release('error');
      this.upstream?.destroy();
      return;
    }
    // The handler runs on: its answer is drained and discarded, and the slot freed when it ends.
    this.ures?.resume();
  }

  /** The slow path: no free slot now, so wait in the pool's queue (cold start, or all instances busy). */
  wait(): void {
    const aborter = new AbortController();
    this.aborter = aborter;
    this.ctx.scheduler.acquire(this.ctx.target, { deadline: this.ctx.deadline, signal: aborter.signal }).then(
      (acquired) => {
        this.aborter = null;
        if (this.answered) return acquired.release('ok'); // the caller or the deadline gave up while we waited
        this.forward(acquired);
      },
      (err: unknown) => {
        this.aborter = null;
        if (!this.answered) this.fail(err);
      },
    );
  }

  forward(lease: Lease): void {
    this.lease = lease;
    const { req, ctx } = this;
    const raw = req.rawHeaders;
    const headers = copyEndToEnd(raw, [], SET_BY_GATEWAY_IN);
    headers.push('x-forwarded-for', forwardedFor(raw, req.socket.remoteAddress ?? ''), 'x-forwarded-proto', 'http');
    const host = req.headers.host;
    if (host) headers.push('x-forwarded-host', host);
    headers.push(REQUEST_ID_HEADER, ctx.requestId, 'x-stratus-deadline-ms', String(ctx.deadline));
    const framing = requestFraming(req);
    // Said explicitly, because Node writes the body of a GET, DELETE, OPTIONS… unframed otherwise.
    if (framing === 'chunked') headers.push('transfer-encoding', 'chunked');
    const options: http.RequestOptions = { agent: lease.agent, method: req.method, path: ctx.path, headers };
    const to = lease.requestOptions;
    if ('socketPath' in to) options.socketPath = to.socketPath;
    else {
      options.host = to.host;
      options.port = to.port;
    }
    const up = http.request(options, (ures) => this.onResponse(ures));
    this.upstream = up;
    up.on('error', (err: NodeJS.ErrnoException) => this.onUpstreamError(err));
    // A 101 with Upgrade headers comes as this event, not a response; unheard, Node drops the socket
    // without a word to this request, which would then hang until its deadline.
    up.on('upgrade', (_ures: http.IncomingMessage, socket: net.Socket) => {
      socket.destroy();
      this.badResponse('status 101, a switch to another protocol');
    });
    if (framing === 'none') up.end();
    else req.pipe(up);
  }

  onResponse(ures: http.IncomingMessage): void {
    this.ures = ures;
    ures.on('end', () => {
      this.release(this.late ? 'timeout' : 'ok');
      if (!this.answered) this.res.end();
    });
    // A reset mid-body: the caller must see a broken response, not a short one that looks whole.
    ures.on('close', () => {
      if (ures.complete) return;
      this.release('crashed');
      if (this.answer('FUNCTION_CRASHED')) this.res.destroy();
    });
    const status = ures.statusCode ?? 0;
    // 1xx but 101 never get here (Node reports them as 'information'); 101 without an upgrade, 000–099
    // and 600–999 do: none is a final answer a caller may get, and writeHead throws on < 100.
    if (status < 200 || status > 599) return this.badResponse(`status ${status}`);
    if (this.answered) return void ures.resume(); // the caller left, or got its 504
    const { res, ctx, lease } = this;
    if (lease?.coldStart) {
      ctx.metrics.coldStartPhaseSeconds.observe({ kind: lease.coldStart.kind, phase: 'first_byte' }, (performance.now() - ctx.arrivedAt) / 1000);
    }
    this.status = status;
    const added = ctx.answerHeaders;
    try {
      // One flat array either way, so writeHead keeps its fast path; CORS adds its pairs and drops the function's.
      const head = added ? copyEndToEnd(ures.rawHeaders, [REQUEST_ID_HEADER, ctx.requestId, ...added.add], added.drop) : copyEndToEnd(ures.rawHeaders, [REQUEST_ID_HEADER, ctx.requestId], SET_BY_GATEWAY_OUT);
      res.writeHead(status, head);
    } catch {
      // Node's client parser refuses what its writeHead would; this keeps that so if either one changes.
      return this.badResponse('a header the gateway cannot send on');
    }
    // pipe() without its bookkeeping: forward chunks, pause on backpressure, end with the upstream.
    ures.on('data', (chunk: Buffer) => {
      if (this.answered) return; // drained and discarded
      if (!res.write(chunk)) {
        ures.pause();
        res.once('drain', () => ures.resume());
      }
    });
  }

  onUpstreamError(err: NodeJS.ErrnoException): void {
    if (this.released) return; // the gateway cut it itself
    // llhttp's parse errors: the instance answered, but not in HTTP.
    if (err.code?.startsWith('HPE_')) this.badResponse(err.code === 'HPE_HEADER_OVERFLOW' ? 'a header section over 16 KB' : (err as { reason?: string }).reason ?? err.code);
    else void this.onUpstreamFailure();
  }

  /** The instance answered with something that is not HTTP: nothing of it goes on, and it is not trusted again. */
  badResponse(what: string): void {
    const name = this.ctx.target.function;
    this.release('crashed');
    this.upstream?.destroy();
    this.fail(new StratusError('FUNCTION_BAD_RESPONSE', `function ${name} sent an invalid HTTP response (${what}); its instance is replaced. Return results through the runtime; see GET ${callLogs(name, this.ctx.requestId)}`, { function: name, logs: callLogs(name, this.ctx.requestId) }));
  }

  async onUpstreamFailure(): Promise<void> {
    const { lease, ctx } = this;
    const name = ctx.target.function;
    const diagnosis = lease ? await lease.diagnose().catch(() => null) : null;
    if (this.released) return;
    this.release('crashed');
    if (diagnosis?.reason === 'oom') {
      this.fail(new StratusError('FUNCTION_OUT_OF_MEMORY', `function ${name} ran out of memory (limit ${ctx.target.config.memoryMb} MB); raise memoryMb, and see GET ${callLogs(name, ctx.requestId)}`, { function: name, memoryMb: ctx.target.config.memoryMb, logs: callLogs(name, ctx.requestId) }));
    } else {
      const how = diagnosis ? `its instance ${diagnosis.reason === 'killed' ? 'was killed' : `exited${diagnosis.exitCode === null ? '' : ` with code ${diagnosis.exitCode}`}`}` : 'the connection to its instance was reset';
      this.fail(new StratusError('FUNCTION_CRASHED', `function ${name} crashed before answering (${how}); see GET ${callLogs(name, ctx.requestId)}`, { function: name, logs: callLogs(name, ctx.requestId) }));
    }
  }
}

export function proxyInvocation(req: http.IncomingMessage, res: http.ServerResponse, ctx: InvocationContext, timeoutMs: number): void {
  const inv = new Invocation(req, res, ctx, timeoutMs);
  // The warm path: a free slot on a ready instance is leased synchronously, without a promise.
  const lease = ctx.scheduler.tryAcquire?.(ctx.target) ?? null;
  if (lease) inv.forward(lease);
  else inv.wait();
}

/** Where one call's log lines are: every 5xx that has logs names it, in its message and its `logs` field. */
const callLogs = (fn: string, requestId: string): string => `/v1/functions/${fn}/logs?requestId=${requestId}`;
