// A call HAProxy served, as the platform accounts for it: the invocation record (records, metering, the
// dashboard's charts, the error-rate watch all take it from the record sink, whichever path served the call),
// the metric labels the Node path counts by, and what the call says of its instance. Pure: the line and what
// the native plane knew of the server are the whole input.
//
// HAProxy's termination state (its docs, 8.5) says who ended a call: its first character is the side that
// ended it ('C' client, 'S' server, 'P' HAProxy itself, 's' server timeout, 'c' client timeout, '-' none),
// its second how far the call had got ('H' waiting for the answer's headers, 'D' in the body, …).

import { billedMs, type InvocationRecord } from '../../core/store/invocations.js';
import type { RoutedOutcome } from '../../scheduler/instance-router.js';
import type { CallLine } from './call-lines.js';

/** What the native plane knew of the server (instance) that took the call. */
export interface ServedBy {
  function: string;
  version: number;
  memoryMb: number;
}

export interface AccountedCall {
  record: InvocationRecord;
  /** The `status` label of stratus_invocations_total, as the Node path counts it (2xx, FUNCTION_TIMEOUT, …). */
  status: string;
  /** What the call says of its instance: a timeout (drain and replace it), a crash (recycle it), or nothing. */
  instance: RoutedOutcome | null;
}

/** The platform's code for a call HAProxy ended itself, or null when the function's own answer went out. */
export function platformError(line: CallLine): string | null {
  const who = line.termination[0];
  if (who === 's') return 'FUNCTION_TIMEOUT';
  if (who === 'C' || who === 'c') return 'CLIENT_CLOSED';
  if (line.server === null) return 'FUNCTION_UNAVAILABLE'; // no instance took it (all went away under it)
  if (who === 'S') return 'FUNCTION_CRASHED';
  if (who === 'P' || who === 'I' || who === 'R' || who === 'D' || who === 'K') return 'FUNCTION_BAD_RESPONSE';
  return null;
}

export function accountCall(line: CallLine, by: ServedBy, now: number): AccountedCall {
  const error = platformError(line);
  const statusCode = line.status > 0 ? line.status : 0;
  const durationMs = Math.max(0, line.durationMs);
  const ran = line.server !== null;
  const record: InvocationRecord = {
    id: line.requestId,
    function: by.function,
    version: by.version,
    trigger: 'http',
    start: new Date(now - durationMs).toISOString(),
    durationMs,
    statusCode,
    outcome: statusCode > 0 && statusCode < 500 && error === null ? 'succeeded' : 'failed',
    // Billed as the Node path bills: the whole call as the caller saw it, once an instance had it.
    billedMs: ran ? billedMs(durationMs) : 0,
    memoryMb: by.memoryMb,
    ...(error ? { error } : {}),
  };
  const status = error ?? `${Math.floor(statusCode / 100)}xx`;
  const instance: RoutedOutcome | null = !ran ? null : error === 'FUNCTION_TIMEOUT' ? 'timeout' : error === 'FUNCTION_CRASHED' || error === 'FUNCTION_BAD_RESPONSE' ? 'crashed' : null;
  return { record, status, instance };
}
