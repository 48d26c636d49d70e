// One call of an instance over HTTP on a lease: the state machine that the function URL proxy
// (streamed-call.ts, gateway/dataplane/proxy.ts) and the event invoker (buffered-call.ts,
// control/invocations/invoker.ts) share. The instance is hostile: whatever it sends or does not send,
// - the lease goes back exactly once, and only when the instance is done with the call: its answer
//   ended ('ok', or 'timeout' past the deadline), it broke the connection or sent something that is not
//   HTTP ('crashed'), or it still ran HANDLER_GRACE_MS after the deadline ('hung': recycled). So a slot is
//   never free while a handler runs on it, and an instance never runs more than `concurrency` calls;
// - the answer mode (a subclass) is told exactly what happened, once per event, through its answer*
//   hooks, and words and delivers the caller's answer itself (keeping "exactly once" on its side).
//
// A class with methods on its prototype rather than closures in a function: one is made per warm
// request, and the only closures per call are the listeners Node's API requires.

import http from 'node:http';
import type net from 'node:net';
import { HANDLER_GRACE_MS } from '../../core/invocation-contract.js';
import type { Logger } from '../../core/log.js';
import type { DeployedVersion } from '../../core/types.js';
import type { Lease, LeaseOutcome } from '../scheduler.js';

/** What lease.diagnose() found after the connection broke: why the instance died, or null if it looks alive. */
export type CrashDiagnosis = Awaited<ReturnType<Lease['diagnose']>>;

/**
 * Who is called, for whom, and how long a late handler may run: what each answer mode's context has
 * anyway (the proxy's per-call context is passed as it is, so the warm path copies nothing into the call).
 */
export interface CallContext {
  target: DeployedVersion;
  /** The call's id: its request id header, and the key of its log lines. */
  requestId: string;
  logger: Logger;
  /** After the deadline, how long the handler may still run before its instance is recycled (default HANDLER_GRACE_MS). */
  graceMs?: number;
}

export abstract class UpstreamCall {
  lease: Lease | null = null;
  upstream: http.ClientRequest | null = null;
  /** The instance's response, once its head arrived with a final status. */
  response: http.IncomingMessage | null = null;
  /** The instance's status, once its head arrived within 200–599. */
  status = 0;
  /** The lease went back: the instance is done with the call, or is being recycled. */
  released = false;
  /** The deadline passed with the instance still on the call. */
  late = false;
  /** The deadline, then (past it, with the instance still on the call) the grace. */
  timer: NodeJS.Timeout;

  /** The deadline timer starts here: construct when the call's clock starts (on arrival, or once leased). */
  constructor(
    readonly call: CallContext,
    readonly timeoutMs: number,
  ) {
    this.timer = setTimeout(() => this.onDeadline(), timeoutMs);
  }

  /** The deadline passed before the call ended; the lease stays taken (see onDeadline). */
  protected abstract answerTimeout(): void;
  /** A head with a final status (200–599): take the body from `response`, or drain it. */
  protected abstract answerHead(response: http.IncomingMessage, status: number): void;
  /** The response ended whole; the lease went back already. */
  protected abstract answerEnd(): void;
  /** The response closed mid-body: the caller must not take a short answer for a whole one. Lease: 'crashed'. */
  protected abstract answerBrokenOff(): void;
  /** What the instance sent is not HTTP a caller may get (`what` says why). Lease: 'crashed', socket destroyed. */
  protected abstract answerBadResponse(what: string): void;
  /** The connection broke before a whole answer; `diagnosis` says why, when the backend knows. Lease: 'crashed'. */
  protected abstract answerCrash(diagnosis: CrashDiagnosis): void;

  /** How an llhttp parse error is named in a bad response; each answer mode keeps the wording its callers know. */
  protected describeParseError(err: NodeJS.ErrnoException): string {
    return err.code === 'HPE_HEADER_OVERFLOW' ? 'a header section over 16 KB' : ((err as { reason?: string }).reason ?? err.code!);
  }

  /** Gives the slot back, once. */
  release(outcome: LeaseOutcome): void {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.timer);
    this.lease?.release(outcome);
  }

  /**
   * Sends the request head on the lease; the caller then ends the request or streams its body in.
   * `headers` may be a flat raw array (name, value, …), which keeps Node's header handling on its fast path.
   */
  protected open(lease: Lease, method: string | undefined, path: string, headers: http.OutgoingHttpHeaders | string[]): http.ClientRequest {
    this.lease = lease;
    const options: http.RequestOptions = { agent: lease.agent, method, path, headers };
    const to = lease.requestOptions;
    if ('socketPath' in to) options.socketPath = to.socketPath;
    else {
      options.host = to.host;
      options.port = to.port;
    }
    const up = http.request(options, (response) => this.onResponse(response));
    this.upstream = up;
    up.on('error', (err: NodeJS.ErrnoException) => this.onUpstreamError(err));
    // A 101 with Upgrade headers comes as this event, not a response; unheard, Node drops the socket
    // without a word to this request, which would then hang until its deadline.
    up.on('upgrade', (_response: http.IncomingMessage, socket: net.Socket) => {
      socket.destroy();
      this.rejectResponse('status 101, a switch to another protocol');
    });
    return up;
  }

  /** The instance answered with something that is not HTTP: nothing of it goes on, and it is not trusted again. */
  protected rejectResponse(what: string): void {
    this.release('crashed');
    this.upstream?.destroy();
    this.answerBadResponse(what);
  }

  private onDeadline(): void {
    this.late = true;
    this.answerTimeout();
    if (this.lease !== null && !this.released) this.timer = setTimeout(() => this.onGraceOver(), this.call.graceMs ?? HANDLER_GRACE_MS);
  }

  private onGraceOver(): void {
    if (this.released) return;
    const { target, requestId, logger, graceMs = HANDLER_GRACE_MS } = this.call;
    logger.warn(`function ${target.function}: a handler still ran ${graceMs} ms after its timeout; recycling its instance`, { function: target.function, requestId, instance: this.lease?.instance.instanceId });
    this.release('hung'); // first: what the destroy below causes must not count as a crash of its own
    this.upstream?.destroy();
  }

  private onResponse(response: http.IncomingMessage): void {
    this.response = response;
    response.on('end', () => {
      this.release(this.late ? 'timeout' : 'ok');
      this.answerEnd();
    });
    // A reset mid-body: a broken answer, not a short one that looks whole.
    response.on('close', () => {
      if (response.complete) return;
      this.release('crashed');
      this.answerBrokenOff();
    });
    const status = response.statusCode ?? 0;
    // 1xx but 101 never get here (Node reports them as 'information'); 101 without an upgrade, 000–099
    // and 600–999 do: none is a final answer a caller may get, and writeHead throws on < 100.
    if (status < 200 || status > 599) return this.rejectResponse(`status ${status}`);
    this.status = status;
    this.answerHead(response, status);
  }

  private onUpstreamError(err: NodeJS.ErrnoException): void {
    if (this.released) return; // the call was cut on this side
    // llhttp's parse errors: the instance answered, but not in HTTP.
    if (err.code?.startsWith('HPE_')) this.rejectResponse(this.describeParseError(err));
    else void this.onUpstreamFailure();
  }

  private async onUpstreamFailure(): Promise<void> {
    const lease = this.lease;
    const diagnosis = lease ? await lease.diagnose().catch(() => null) : null;
    if (this.released) return; // the grace ran out while the backend was asked
    this.release('crashed');
    this.answerCrash(diagnosis);
  }
}
