// Answer mode (a) of the upstream call: the instance's answer streamed to a waiting caller (a function
// URL). Two things end separately, each exactly once:
// - the caller's answer: the instance's response, a 504 at the deadline, a 502 when the instance
//   crashed or sent something that is not valid HTTP (status outside 200–599, bad headers: nothing of it
//   is forwarded), or the caller going away;
// - the lease (upstream-call.ts): besides the instance's own ending, when the request body never
//   arrived whole (no runtime runs a handler on a partial body). A caller that leaves after its body
//   arrived has the handler's answer drained and discarded, and the slot freed when it ends.
// Which request headers cross, and how a failure is worded on the wire, is the data plane's
// (gateway/dataplane/proxy.ts): it supplies forward() and sendFailure().
//
// This is the warm hot path, so it is written for cost per request (measured with a CPU profile and
// npm run bench): a lease is taken synchronously when a ready instance has a free slot (no promise, no
// AbortController — creating and aborting one costs ~11 µs, more than the rest of our own code);
// headers travel as flat raw arrays (no Object.entries copies, no setHeader per header, and
// writeHead takes its fast path); the response body is forwarded with a data/end pair and backpressure
// instead of pipe()'s half-dozen listeners.

import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { StratusError } from '../../core/errors.js';
import { REQUEST_ID_HEADER } from '../../core/invocation-contract.js';
import type { InvocationMetrics } from '../../core/ports/metrics.js';
import type { Lease, Scheduler } from '../scheduler.js';
import { copyEndToEnd } from './end-to-end-headers.js';
import { UpstreamCall, type CrashDiagnosis, type CallContext } from './upstream-call.js';

/** Headers that replace the function's own in its answer (CORS, the API origin's sandbox: gateway/dataplane/http-policy.ts). */
export interface ReplacedAnswerHeaders {
  /** Name, value, name, value… */
  readonly add: readonly string[];
  /** Lower-case names left out of the function's answer (the request id header among them). */
  readonly drop: ReadonlySet<string>;
}

export interface StreamContext extends CallContext {
  /** Path after /fn/NAME (at least "/"), with the query string. */
  path: string;
  /** ms since epoch, on the same clock the scheduler uses. */
  deadline: number;
  /** performance.now() when the request arrived. */
  arrivedAt: number;
  scheduler: Scheduler;
  metrics: InvocationMetrics;
  /** Headers that replace the function's own in its answer, and go on the platform's; none for most URLs. */
  answerHeaders?: ReplacedAnswerHeaders;
}

/** On the way out the platform's request id wins over whatever the function sent. */
const SET_BY_PLATFORM_OUT = new Set([REQUEST_ID_HEADER]);
/** Why a queued acquire is abandoned; a fixed reason, because abort() without one builds a DOMException with a stack. */
const GAVE_UP = new StratusError('INVALID_REQUEST', 'the request ended before an instance was free');

export abstract class StreamedCall extends UpstreamCall {
  /** Set while a queued acquire is pending: aborted if the call ends first. */
  aborter: AbortController | null = null;
  /** The caller has its answer, or is gone: counted in the metrics, and nothing more is written to it. */
  answered = false;

  constructor(
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    readonly ctx: StreamContext,
    timeoutMs: number,
  ) {
    super(ctx, timeoutMs);
    // One listener covers both ends: finished (ok) and closed early (the caller went away).
    res.once('close', () => this.onCallerClose());
  }

  /** Sends the caller's request on the lease: open() with the headers that cross, then its body. */
  abstract forward(lease: Lease): void;
  /** Writes a failure to the caller in the platform's words (problem+json); called at most once. */
  protected abstract sendFailure(err: unknown): void;

  /** Takes a slot: at once when a ready instance has one free (the warm path), else through the pool's queue. */
  start(): void {
    // The warm path: a free slot on a ready instance is leased synchronously, without a promise.
    const lease = this.ctx.scheduler.tryAcquire?.(this.ctx.target) ?? null;
    if (lease) this.forward(lease);
    else this.wait();
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
    if (this.answer(err instanceof StratusError ? err.code : 'INTERNAL')) this.sendFailure(err);
  }

  /** The slow path: no free slot now, so wait in the pool's queue (cold start, or all instances busy). */
  private wait(): void {
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

  private onCallerClose(): void {
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
    this.response?.resume();
  }

  protected answerHead(response: http.IncomingMessage, status: number): void {
    if (this.answered) return void response.resume(); // the caller left, or got its 504
    const { res, ctx, lease } = this;
    if (lease?.coldStart) {
      ctx.metrics.coldStartPhaseSeconds.observe({ kind: lease.coldStart.kind, phase: 'first_byte' }, (performance.now() - ctx.arrivedAt) / 1000);
    }
    const added = ctx.answerHeaders;
    try {
      // One flat array either way, so writeHead keeps its fast path; CORS adds its pairs and drops the function's.
      const head = added ? copyEndToEnd(response.rawHeaders, [REQUEST_ID_HEADER, ctx.requestId, ...added.add], added.drop) : copyEndToEnd(response.rawHeaders, [REQUEST_ID_HEADER, ctx.requestId], SET_BY_PLATFORM_OUT);
      res.writeHead(status, head);
    } catch {
      // Node's client parser refuses what its writeHead would; this keeps that so if either one changes.
      return this.rejectResponse('a header the gateway cannot send on');
    }
    // pipe() without its bookkeeping: forward chunks, pause on backpressure, end with the upstream.
    response.on('data', (chunk: Buffer) => {
      if (this.answered) return; // drained and discarded
      if (!res.write(chunk)) {
        response.pause();
        res.once('drain', () => response.resume());
      }
    });
  }

  protected answerEnd(): void {
    if (!this.answered) this.res.end();
  }

  protected answerBrokenOff(): void {
    if (this.answer('FUNCTION_CRASHED')) this.res.destroy();
  }

  protected answerTimeout(): void {
    const { target, requestId } = this.ctx;
    const name = target.function;
    const logs = callLogs(name, requestId);
    this.fail(new StratusError('FUNCTION_TIMEOUT', `function ${name} did not answer within its timeout of ${this.timeoutMs} ms; make it faster or raise timeoutMs, and see GET ${logs}`, { function: name, timeoutMs: this.timeoutMs, logs }));
  }

  protected answerBadResponse(what: string): void {
    const { target, requestId } = this.ctx;
    const name = target.function;
    const logs = callLogs(name, requestId);
    this.fail(new StratusError('FUNCTION_BAD_RESPONSE', `function ${name} sent an invalid HTTP response (${what}); its instance is replaced. Return results through the runtime; see GET ${logs}`, { function: name, logs }));
  }

  protected answerCrash(diagnosis: CrashDiagnosis): void {
    const { target, requestId } = this.ctx;
    const name = target.function;
    const logs = callLogs(name, requestId);
    if (diagnosis?.reason === 'oom') {
      const memoryMb = target.config.memoryMb;
      this.fail(new StratusError('FUNCTION_OUT_OF_MEMORY', `function ${name} ran out of memory (limit ${memoryMb} MB); raise memoryMb, and see GET ${logs}`, { function: name, memoryMb, logs }));
    } else {
      const how = diagnosis ? `its instance ${diagnosis.reason === 'killed' ? 'was killed' : `exited${diagnosis.exitCode === null ? '' : ` with code ${diagnosis.exitCode}`}`}` : 'the connection to its instance was reset';
      this.fail(new StratusError('FUNCTION_CRASHED', `function ${name} crashed before answering (${how}); see GET ${logs}`, { function: name, logs }));
    }
  }
}

/** Where one call's log lines are: every 5xx that has logs names it, in its message and its `logs` field. */
const callLogs = (fn: string, requestId: string): string => `/v1/functions/${fn}/logs?requestId=${requestId}`;
