// What an instance wrote before its start failed. A backend that has it (Docker: the container's last
// log lines; process: the child's last output) rejects with an InstanceStartError carrying them, so the
// load check (asLoadFailure, below) can put the runtime's own error in the build log and the scheduler
// can say what went wrong in GET /v1/functions/NAME. The lines stay off the error's details on purpose: details go
// into the problem document, and a function URL's caller is anonymous — it gets the logs' address instead.

import { StratusError, isStratusError, type ErrorDetails } from '../../core/errors.js';
import { LoadFailure } from '../../core/ports/load-check.js';
import { NotHealthyError } from './health.js';

export class InstanceStartError extends StratusError {
  constructor(
    message: string,
    details: ErrorDetails,
    /** The instance's last output lines, oldest first (at most a few dozen). */
    readonly output: readonly string[],
    options?: { cause?: unknown },
  ) {
    super('INSTANCE_START_FAILED', message, details, options);
  }
}

/** The output lines a failed start left, or none. */
export function startOutputOf(err: unknown): readonly string[] {
  return err instanceof InstanceStartError ? err.output : [];
}

/** Both runtimes report a load failure as one line (runtime-images/README.md): this prefix, then why. */
const LOAD_FAILURE = /^stratus-runtime: (cannot load handler .*)$/;

/**
 * The one line that says why a start failed: the runtime's own load-failure line (with file:line where
 * the runtime gives it), else the last line that reads like an error, else the last line written.
 */
export function failureSummary(output: readonly string[]): string | null {
  const lines = output.map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = LOAD_FAILURE.exec(lines[i]!);
    if (m) return m[1]!;
  }
  for (let i = lines.length - 1; i >= 0; i--) if (/\b\w*(Error|Exception|Exit)\b/.test(lines[i]!)) return lines[i]!.trim();
  return lines.at(-1)?.trim() ?? null;
}

/**
 * A failed start as the load check port tells it (core/ports/load-check.ts): the version's own failure
 * with its output and summary; anything that is not a failed start (shutdown, a bug) passes unchanged.
 */
export function asLoadFailure(err: unknown): unknown {
  if (!isStratusError(err) || err.code !== 'INSTANCE_START_FAILED' || err instanceof LoadFailure) return err;
  const output = startOutputOf(err);
  // Refused by the platform (its socket was tampered with): the reason is ours, not the runtime's last line.
  const refused = err.cause instanceof NotHealthyError && err.cause.reason === 'untrusted';
  return new LoadFailure(err.message, output, refused ? null : failureSummary(output), { cause: err });
}
