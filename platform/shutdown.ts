// The platform's stop as a stack: each component registers its close in the composition root as it is
// created, under the phase it belongs to, and stop runs the phases in order and, within a phase, the
// closes in the reverse order of creation (what was made later may use what was made earlier, so it
// goes first). Nobody keeps a hand-ordered list of every close in sync with the wiring.
//
//   notice       say it before doing it: readiness (GET /readyz) answers 503 while calls are still served, for
//                STRATUS_DRAIN_NOTICE_MS, so a load balancer's health checks take the replica out first
//   intake       stop taking new work: the listener, the route watch, cron, object events, the trigger view
//   work         finish what is under way: async invocations, rollbacks decided, builds, the scheduler's
//                instances drained, notifications queued
//   connections  the last HTTP answers and the object storage's server
//   instances    the backend (containers, processes, pods) goes
//   state        what records the above: function logs, invocation records, dashboard sources, the store last

import { StopSteps } from './boot/stop-steps.js';
import type { Logger } from '../core/log.js';

export const SHUTDOWN_PHASES = ['notice', 'intake', 'work', 'connections', 'instances', 'state'] as const;
export type ShutdownPhase = (typeof SHUTDOWN_PHASES)[number];

export class ShutdownStack {
  readonly #steps = new Map<ShutdownPhase, Array<readonly [string, () => unknown]>>(SHUTDOWN_PHASES.map((p) => [p, []]));
  readonly #run: StopSteps;
  #stopping: Promise<void> | undefined;

  constructor(logger: Pick<Logger, 'debug' | 'warn'>, warnEveryMs?: number) {
    this.#run = new StopSteps(logger, warnEveryMs);
  }

  /** Registers a close; `close` may be absent or return nothing (a part that is not there, or synchronous). */
  add(phase: ShutdownPhase, name: string, close: () => unknown): void {
    if (this.#stopping) throw new Error(`"${name}" registered its close after the stop began`);
    this.#steps.get(phase)!.push([name, close]);
  }

  /** The steps in the order stop runs them (for the log and the tests). */
  order(): string[] {
    return SHUTDOWN_PHASES.flatMap((p) => [...this.#steps.get(p)!].reverse().map(([name]) => `${p}: ${name}`));
  }

  /** Runs every close once, phase by phase; a second call waits for the first. Stops at a close that throws. */
  stop(): Promise<void> {
    this.#stopping ??= this.#run.run(SHUTDOWN_PHASES.flatMap((p) => [...this.#steps.get(p)!].reverse()));
    return this.#stopping;
  }

  /** The step a stop under way waits for (null: none). */
  current(): string | null {
    return this.#run.current();
  }
}
