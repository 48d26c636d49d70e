// What the gateway process does with an error nobody caught. Node's default is to exit, and an exit
// takes down every function at once; a restart re-adopts the same instances, so a function able to
// provoke one fault would keep the whole platform in a crash loop. So a fault is logged and the
// gateway keeps serving — where that is safe:
//
// - an unhandled promise rejection: always safe to go on. The promise's own work is over; nothing was
//   unwound halfway through by it.
// - an uncaught exception: it unwound one callback (one request's, one timer's) part way. The gateway
//   keeps no state shared across requests that such a callback half-updates except counters the
//   scheduler re-derives (slots come back with their leases, instances with reconcile), so serving on
//   is the lesser harm. It is NOT safe when faults keep coming — then something is broken for every
//   call, not for one: past `limit` faults within `windowMs` the process gives up (stops in order and
//   exits 1, for its supervisor to start it clean).

import type { EventEmitter } from 'node:events';
import type { Logger } from '../core/log.js';

export interface FaultOptions {
  /** Faults tolerated within windowMs before giving up. */
  limit?: number;
  windowMs?: number;
  now?: () => number;
}

/** Installs the handlers on `proc` (the process); returns a function that removes them. */
export function keepServingThroughFaults(proc: EventEmitter, logger: Logger, giveUp: (why: string) => void, opts: FaultOptions = {}): () => void {
  const limit = opts.limit ?? 20;
  const windowMs = opts.windowMs ?? 60_000;
  const now = opts.now ?? Date.now;
  let recent: number[] = [];
  let gaveUp = false;

  const count = (): void => {
    const t = now();
    recent = recent.filter((at) => t - at < windowMs);
    recent.push(t);
    if (recent.length > limit && !gaveUp) {
      gaveUp = true;
      giveUp(`${recent.length} uncaught errors within ${Math.round(windowMs / 1000)} s: the process state can no longer be trusted`);
    }
  };
  const onRejection = (reason: unknown): void => {
    logger.error('unhandled promise rejection (a bug in Stratus; serving on)', { err: reason });
  };
  const onException = (err: Error, origin: string): void => {
    logger.error('uncaught exception (a bug in Stratus; serving on)', { err, origin });
    count();
  };
  proc.on('unhandledRejection', onRejection);
  proc.on('uncaughtException', onException);
  return () => {
    proc.off('unhandledRejection', onRejection);
    proc.off('uncaughtException', onException);
  };
}
