// Answer mode (b) of the upstream call: a request sent whole and the instance's answer kept, up to a
// bound, as one result — for callers nobody waits on over HTTP (the async worker, cron and storage
// triggers, through control/invocations/invoker.ts). The rest of a long answer is read and discarded
// before the slot is freed; the result settles exactly once, at the deadline if the instance is late
// (its lease stays taken until it ends or its grace runs out: upstream-call.ts).

import type http from 'node:http';
import type { ErrorCode } from '../../core/errors.js';
import type { Lease } from '../scheduler.js';
import { UpstreamCall, type CrashDiagnosis, type CallContext } from './upstream-call.js';

/** How a call ended, as its record and its retry policy need it. */
export interface BufferedResult {
  /** 'succeeded' for an answer below 500; 'failed' for a 5xx or when the instance did not answer properly. */
  outcome: 'succeeded' | 'failed';
  /** The function's status, or the platform's for a failure it answered (502, 504). */
  statusCode: number;
  contentType: string | null;
  /** The answer's body as UTF-8, cut at maxBytes. */
  body: string;
  truncated: boolean;
  /** The platform's error code when the function did not answer properly (or answered 5xx: FUNCTION_ERROR). */
  error?: ErrorCode;
  message?: string;
}

export interface BufferedRequest {
  method: string;
  path: string;
  headers: http.OutgoingHttpHeaders;
  body: Buffer;
}

export interface BufferedOptions extends CallContext {
  timeoutMs: number;
  /** A longer answer is cut to this many bytes and marked truncated. */
  maxBytes: number;
}

/** A failure the platform answered in the function's place. */
export function failedResult(code: ErrorCode, statusCode: number, message: string): BufferedResult {
  return { outcome: 'failed', statusCode, contentType: null, body: '', truncated: false, error: code, message };
}

/** Sends `request` on the lease and settles with the instance's bounded answer, or why there is none. Never rejects. */
export function callBuffered(lease: Lease, request: BufferedRequest, options: BufferedOptions): Promise<BufferedResult> {
  return new Promise((resolve) => {
    new BufferedCall(options, resolve).send(lease, request);
  });
}

class BufferedCall extends UpstreamCall {
  readonly chunks: Buffer[] = [];
  size = 0;
  truncated = false;
  settled = false;

  constructor(
    readonly options: BufferedOptions,
    private readonly resolve: (result: BufferedResult) => void,
  ) {
    super(options, options.timeoutMs);
  }

  send(lease: Lease, request: BufferedRequest): void {
    this.open(lease, request.method, request.path, request.headers).end(request.body);
  }

  settle(result: BufferedResult): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve(result);
  }

  /** The invoker's records have always named llhttp's own code. */
  protected override describeParseError(err: NodeJS.ErrnoException): string {
    return err.code!;
  }

  protected answerHead(response: http.IncomingMessage): void {
    const max = this.options.maxBytes;
    response.on('data', (c: Buffer) => {
      if (this.size >= max) return void (this.truncated = true);
      this.chunks.push(this.size + c.length > max ? c.subarray(0, max - this.size) : c);
      this.truncated ||= this.size + c.length > max;
      this.size = Math.min(max, this.size + c.length);
    });
  }

  protected answerEnd(): void {
    const status = this.status;
    const ok = status < 500;
    const type = this.response!.headers['content-type'];
    this.settle({
      outcome: ok ? 'succeeded' : 'failed', statusCode: status, contentType: typeof type === 'string' ? type : null,
      body: Buffer.concat(this.chunks).toString('utf8'), truncated: this.truncated,
      ...(ok ? {} : { error: 'FUNCTION_ERROR' as const, message: `function ${this.options.target.function} answered ${status}` }),
    });
  }

  protected answerBrokenOff(): void {
    this.settle(failedResult('FUNCTION_CRASHED', 502, `function ${this.options.target.function} broke off its answer`));
  }

  protected answerTimeout(): void {
    this.settle(failedResult('FUNCTION_TIMEOUT', 504, `function ${this.options.target.function} did not answer within its timeout of ${this.timeoutMs} ms`));
  }

  protected answerBadResponse(what: string): void {
    this.settle(failedResult('FUNCTION_BAD_RESPONSE', 502, `function ${this.options.target.function} sent an invalid HTTP response (${what})`));
  }

  protected answerCrash(diagnosis: CrashDiagnosis): void {
    const { target } = this.options;
    const name = target.function;
    if (diagnosis?.reason === 'oom') this.settle(failedResult('FUNCTION_OUT_OF_MEMORY', 502, `function ${name} ran out of memory (limit ${target.config.memoryMb} MB)`));
    else this.settle(failedResult('FUNCTION_CRASHED', 502, `function ${name} crashed before answering`));
  }
}
