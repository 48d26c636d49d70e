// The load phase, the last step of every build: the built version is started once through the load
// check port (core/ports/load-check.ts; the platform's Scheduler answers it, and keeps the instance warm
// for the rollout). It must load its handler and answer /healthz before the version may become ready; a
// syntax error, a missing export, a failing import or a crash at load fails the build with the runtime's
// own words (file:line where the runtime gives them) instead of surfacing at the first call — and the
// previous version keeps serving.

import { LoadFailure, type LoadCheck } from '../core/ports/load-check.js';
import type { DeployedVersion } from '../core/types.js';
import { BuildFailure } from './build-failure.js';

/** Resolves once `target` loaded and answered health; throws BuildFailure when its code cannot start. */
export async function checkLoad(check: LoadCheck, target: DeployedVersion, log: (line: string) => void, signal: AbortSignal): Promise<void> {
  log(`starting the version once: handler ${target.handler ?? '(default)'} must load and /healthz answer`);
  try {
    await check.probe(target, signal);
  } catch (err) {
    // A stopped build (timeout, shutdown) is described by the build service; anything but the code's
    // failure to start is ours (Docker down, a bug) and goes the internal-error way.
    if (signal.aborted || !(err instanceof LoadFailure)) throw err;
    if (err.output.length > 0) log('the runtime wrote:');
    for (const line of err.output) log(`  ${line}`);
    throw new BuildFailure(
      err.summary
        ? `the code failed to load: ${err.summary} (the runtime's output is in the build log)`
        : `the function could not start: ${err.message.replace(/; see the instance logs$/, '')}`,
    );
  }
  log('the handler loaded and /healthz answered');
}
