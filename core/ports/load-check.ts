// The load check port: the last step of every build starts the built version once, the way the
// scheduler runs it, before the version may become ready. The builder calls it; the scheduler answers
// it (Scheduler.probe: the ready instance stays in the version's pool, so the rollout and the first call
// find it warm). Declared in core so that the builder needs nothing of the scheduler: it hands a
// DeployedVersion and gets back either nothing (loaded, /healthz answered) or a LoadFailure in the
// runtime's own words, which it turns into the build's error.

import { StratusError } from '../errors.js';
import type { DeployedVersion } from '../types.js';

export interface LoadCheck {
  /**
   * Resolves once an instance of `target` loaded its handler and answered /healthz. Rejects with a
   * LoadFailure when the version's code could not start; any other rejection (an aborted `signal`, the
   * platform shutting down, the backend unreachable) is the platform's, not the code's.
   */
  probe(target: DeployedVersion, signal: AbortSignal): Promise<void>;
}

/** The version's code could not start: what the runtime wrote, and the one line that says why. */
export class LoadFailure extends StratusError {
  constructor(
    message: string,
    /** The instance's last output lines, oldest first: where the runtime's file:line is. */
    readonly output: readonly string[],
    /** The line that says why (the runtime's load-failure line, else the last error-like line); null without output. */
    readonly summary: string | null,
    options?: { cause?: unknown },
  ) {
    super('INSTANCE_START_FAILED', message, {}, options);
  }
}
