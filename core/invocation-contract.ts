// What every data plane and invoker agrees on with the runtimes and with callers: the headers Stratus
// sets on a call, the header an invoke key travels in, and how long a handler may overrun its deadline.
// In core because the function URL proxy (gateway/dataplane/), the event invoker (control/invocations/)
// and a native proxy's configuration all follow the same contract.

import { createHash } from 'node:crypto';

/** The call's id: set on the way in (a caller's own value never reaches the function) and on every answer. */
export const REQUEST_ID_HEADER = 'x-stratus-request-id';
/** The call's deadline, ms since the epoch, for the runtime to hand to the handler. */
export const DEADLINE_HEADER = 'x-stratus-deadline-ms';
/** Sent with a call of a function URL whose http trigger has auth "key". */
export const INVOKE_KEY_HEADER = 'x-stratus-key';

/** Invoke keys are kept and compared as their SHA-256 only. */
export const hashInvokeKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

/**
 * How long a handler may still run after its call was answered 504 before its instance is recycled.
 * Until then its slot stays taken: the runtimes do not stop a handler at the deadline (they cannot,
 * in general), so a slot freed at the 504 would let the instance run more than `concurrency` calls.
 */
export const HANDLER_GRACE_MS = 5_000;
