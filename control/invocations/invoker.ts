// A programmatic invocation: an event delivered to a function through the Scheduler (never around it to
// the backend), as a CloudEvent 1.0 in binary HTTP mode built with the cloudevents SDK. Used by the async
// worker and by cron and storage triggers. The call itself is the upstream call the function URL uses
// too (scheduler/upstream/), in its buffered mode: the instance is as hostile here as there, its answer
// is read up to a bound and the rest drained, and the lease is held until the instance is done with the
// call — past the deadline the attempt has failed, but the slot stays taken for HANDLER_GRACE_MS before
// the instance is recycled, so an instance never runs more calls than its concurrency.

import { CloudEvent, HTTP } from 'cloudevents';
import { StratusError } from '../../core/errors.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { billedMs, type InvocationTrigger } from '../../core/store/invocations.js';
import type { DeployedVersion } from '../../core/types.js';
import { DEADLINE_HEADER, REQUEST_ID_HEADER } from '../../core/invocation-contract.js';
import type { Lease, Scheduler } from '../../scheduler/scheduler.js';
import { callBuffered, failedResult, type BufferedResult } from '../../scheduler/upstream/buffered-call.js';
import type { InvocationRecordSink } from './invocation-records.js';

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

/** The answer (scheduler/upstream/buffered-call.ts), or the platform's failure (a 429 from the queue…), and its timing. */
export interface InvokeResult extends BufferedResult {
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
    let result: BufferedResult;
    try {
      const lease = this.deps.scheduler.tryAcquire?.(target) ?? (await this.deps.scheduler.acquire(target, { deadline }));
      result = await this.#call(lease, target, event, deadline, timeoutMs);
    } catch (err) {
      const e = err instanceof StratusError ? err : new StratusError('INTERNAL', 'the invocation could not be delivered', {}, { cause: err });
      if (!(err instanceof StratusError)) this.deps.logger.error('invocation failed', { function: target.function, id: event.id, err });
      result = failedResult(e.code, e.status, e.message);
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

  #call(lease: Lease, target: DeployedVersion, event: EventInput, deadline: number, timeoutMs: number): Promise<BufferedResult> {
    const message = HTTP.binary(new CloudEvent({
      id: event.id, type: event.type, source: event.source, time: event.time ?? new Date(this.deps.clock.now()).toISOString(),
      ...(event.subject ? { subject: event.subject } : {}), datacontenttype: 'application/json', data: event.data ?? null,
    }));
    const body = Buffer.from(typeof message.body === 'string' ? message.body : JSON.stringify(message.body ?? null));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers)) if (typeof v === 'string') headers[k] = v;
    Object.assign(headers, { 'content-length': String(body.length), [REQUEST_ID_HEADER]: event.id, [DEADLINE_HEADER]: String(deadline) });
    return callBuffered(lease, { method: 'POST', path: '/', headers, body }, {
      target, requestId: event.id, timeoutMs, graceMs: this.deps.graceMs,
      maxBytes: this.deps.maxResultBytes ?? MAX_RESULT_BYTES, logger: this.deps.logger,
    });
  }
}
