// A programmatic invocation: an event delivered to a function through the Scheduler (never around it to
// the backend), as a CloudEvent 1.0 in binary HTTP mode built with the cloudevents SDK. Used by the async
// worker (and by cron and storage triggers later). The instance is as hostile here as on the function URL
// (gateway/dataplane/proxy.ts): its answer is read up to a bound and the rest drained, any status outside 200–599 or
// broken HTTP is a bad response, and the lease is held until the instance is done with the call — past the
// deadline the attempt has failed, but the slot stays taken for HANDLER_GRACE_MS before the instance is
// recycled, so an instance never runs more calls than its concurrency.

import http from 'node:http';
import { CloudEvent, HTTP } from 'cloudevents';
import { StratusError, type ErrorCode } from '../../core/errors.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { billedMs, type InvocationTrigger } from '../../core/store/invocations.js';
import type { DeployedVersion } from '../../core/types.js';
import type { Lease, LeaseOutcome, Scheduler } from '../../scheduler/scheduler.js';


import type { InvocationRecordSink } from './invocation-records.js';
import { HANDLER_GRACE_MS, REQUEST_ID_HEADER } from '../../core/invocation-contract.js';

/** A result longer than this is cut (and marked truncated): one answer must not fill the queue's store. */
export const MAX_RESULT_BYTES = 256 * 1024;

export interface EventInput {
  /** The invocation id: the CloudEvent's id and the call's request id (its log lines are kept under it). */
  id: string;
  type: string;
  source: string;
  subject?: string;
  /** ISO time the event happened; default: now. */
  time?: string;
  data: unknown;
}

export interface InvokeResult {
  outcome: 'succeeded' | 'failed';
  /** The function's status, or the platform's for a failure it answered (502, 504…). */
  statusCode: number;
  contentType: string | null;
  body: string;
  truncated: boolean;
  /** The platform's error code when the function did not answer properly. */
  error?: ErrorCode;
  message?: string;
  startedAt: string;
  durationMs: number;
}

export interface InvokerDeps {
  scheduler: Scheduler;
  clock: Clock;
  records: InvocationRecordSink;
  logger: Logger;
  maxResultBytes?: number;
  graceMs?: number;
}

export class Invoker {
  constructor(private readonly deps: InvokerDeps) {}

  async invoke(target: DeployedVersion, event: EventInput, how: { trigger: InvocationTrigger; attempt?: number }): Promise<InvokeResult> {
    const startedAt = new Date(this.deps.clock.now()).toISOString();
    const t0 = performance.now();
    const timeoutMs = target.config.timeoutMs;
    const deadline = this.deps.clock.now() + timeoutMs;
    let result: Omit<InvokeResult, 'startedAt' | 'durationMs'>;
    try {
      const lease = this.deps.scheduler.tryAcquire?.(target) ?? (await this.deps.scheduler.acquire(target, { deadline }));
      result = await this.#call(lease, target, event, deadline, timeoutMs);
    } catch (err) {
      const e = err instanceof StratusError ? err : new StratusError('INTERNAL', 'the invocation could not be delivered', {}, { cause: err });
      if (!(err instanceof StratusError)) this.deps.logger.error('invocation failed', { function: target.function, id: event.id, err });
      result = failure(e.code, e.status, e.message);
    }
    const durationMs = performance.now() - t0;
    this.deps.records.record({
      id: event.id, function: target.function, version: target.version, trigger: how.trigger, start: startedAt, durationMs,
      statusCode: result.statusCode, outcome: result.outcome, billedMs: billedMs(durationMs), memoryMb: target.config.memoryMb,
      ...(result.error ? { error: result.error } : {}), ...(how.attempt ? { attempt: how.attempt } : {}),
    });
    // Not the warm path: an async attempt's record is stored before its job is marked done, so a kill
    // between the two cannot lose it (the job would run again and write it then).
    if (how.trigger !== 'http') await this.deps.records.flush?.().catch(() => {});
    return { ...result, startedAt, durationMs };
  }

  #call(lease: Lease, target: DeployedVersion, event: EventInput, deadline: number, timeoutMs: number): Promise<Omit<InvokeResult, 'startedAt' | 'durationMs'>> {
    const message = HTTP.binary(new CloudEvent({
      id: event.id, type: event.type, source: event.source, time: event.time ?? new Date(this.deps.clock.now()).toISOString(),
      ...(event.subject ? { subject: event.subject } : {}), datacontenttype: 'application/json', data: event.data ?? null,
    }));
    const body = Buffer.from(typeof message.body === 'string' ? message.body : JSON.stringify(message.body ?? null));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers)) if (typeof v === 'string') headers[k] = v;
    Object.assign(headers, { 'content-length': String(body.length), [REQUEST_ID_HEADER]: event.id, 'x-stratus-deadline-ms': String(deadline) });
    const name = target.function;
    const max = this.deps.maxResultBytes ?? MAX_RESULT_BYTES;

    return new Promise((resolve) => {
      let settled = false;
      let released = false;
      let late = false;
      const settle = (r: Omit<InvokeResult, 'startedAt' | 'durationMs'>) => {
        if (settled) return;
        settled = true;
        resolve(r);
      };
      const release = (outcome: LeaseOutcome) => {
        if (released) return;
        released = true;
        clearTimeout(timer);
        lease.release(outcome);
      };
      let timer = setTimeout(() => {
        late = true;
        settle(failure('FUNCTION_TIMEOUT', 504, `function ${name} did not answer within its timeout of ${timeoutMs} ms`));
        timer = setTimeout(() => {
          release('hung');
          up.destroy();
        }, this.deps.graceMs ?? HANDLER_GRACE_MS);
      }, timeoutMs);

      const to = lease.requestOptions;
      const up = http.request({ agent: lease.agent, method: 'POST', path: '/', headers, ...('socketPath' in to ? { socketPath: to.socketPath } : { host: to.host, port: to.port }) }, (ures) => {
        const status = ures.statusCode ?? 0;
        if (status < 200 || status > 599) return bad(`status ${status}`);
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        ures.on('data', (c: Buffer) => {
          if (size >= max) return void (truncated = true);
          chunks.push(size + c.length > max ? c.subarray(0, max - size) : c);
          truncated ||= size + c.length > max;
          size = Math.min(max, size + c.length);
        });
        ures.on('end', () => {
          release(late ? 'timeout' : 'ok');
          const ok = status < 500;
          settle({ outcome: ok ? 'succeeded' : 'failed', statusCode: status, contentType: header(ures.headers['content-type']), body: Buffer.concat(chunks).toString('utf8'), truncated, ...(ok ? {} : { error: 'FUNCTION_ERROR' as const, message: `function ${name} answered ${status}` }) });
        });
        ures.on('close', () => {
          if (ures.complete) return;
          release('crashed');
          settle(failure('FUNCTION_CRASHED', 502, `function ${name} broke off its answer`));
        });
      });
      const bad = (what: string) => {
        release('crashed');
        up.destroy();
        settle(failure('FUNCTION_BAD_RESPONSE', 502, `function ${name} sent an invalid HTTP response (${what})`));
      };
      up.on('upgrade', (_r, socket) => {
        socket.destroy();
        bad('status 101, a switch to another protocol');
      });
      up.on('error', (err: NodeJS.ErrnoException) => {
        if (released) return; // cut by us
        if (err.code?.startsWith('HPE_')) return bad(err.code);
        void lease.diagnose().catch(() => null).then((d) => {
          release('crashed');
          if (d?.reason === 'oom') settle(failure('FUNCTION_OUT_OF_MEMORY', 502, `function ${name} ran out of memory (limit ${target.config.memoryMb} MB)`));
          else settle(failure('FUNCTION_CRASHED', 502, `function ${name} crashed before answering`));
        });
      });
      up.end(body);
    });
  }
}

const header = (v: string | string[] | undefined): string | null => (typeof v === 'string' ? v : null);

function failure(code: ErrorCode, statusCode: number, message: string): Omit<InvokeResult, 'startedAt' | 'durationMs'> {
  return { outcome: 'failed', statusCode, contentType: null, body: '', truncated: false, error: code, message };
}
