// The load check, the last step of every build: the built version is started once, the way the scheduler
// will start it (an instance of the new image with Docker, the artifact tree with the process backend),
// through the Backend seam the composition root hands in. It must load its handler and answer /healthz
// before the version may become ready; a syntax error, a missing export, a failing import or a crash at
// load fails the build with the runtime's own words (file:line where the runtime gives them) instead of
// surfacing at the first call — and the previous version keeps serving.

import { isStratusError } from '../core/errors.js';
import type { FunctionConfig } from '../core/function-config.js';
import type { Logger } from '../core/log.js';
import type { Runtime } from '../core/types.js';
import type { Backend, InstanceSpec } from '../scheduler/backends/backend.js';
import { failureSummary, startOutputOf } from '../scheduler/backends/start-output.js';
import { functionInstanceId } from '../scheduler/instance-id.js';
import { BuildFailure } from './build-failure.js';

/** What the check starts: the version as the scheduler would run it. */
export interface LoadCheckTarget {
  function: string;
  version: number;
  runtime: Runtime;
  config: FunctionConfig;
  handler: string;
  /** The image just built (Docker, Kubernetes); null without images (process backend). */
  image: string | null;
  /** The code tree, for a backend that runs it in place (process). */
  codeDir: string;
}

export interface LoadCheck {
  /** Resolves once the version loaded and answered health (the instance is stopped again); throws BuildFailure otherwise. */
  run(target: LoadCheckTarget, log: (line: string) => void, signal: AbortSignal): Promise<void>;
}

export class BackendLoadCheck implements LoadCheck {
  constructor(
    private readonly backend: Pick<Backend, 'start' | 'stop'>,
    private readonly logger: Logger,
  ) {}

  async run(t: LoadCheckTarget, log: (line: string) => void, signal: AbortSignal): Promise<void> {
    // The scheduler's own ids: bounded whatever the name's length, so the socket path fits the same bound.
    const instanceId = functionInstanceId(t.function, t.version);
    const spec: InstanceSpec = {
      instanceId,
      role: 'function',
      runtime: t.runtime,
      function: t.function,
      version: t.version,
      image: t.image,
      artifactDir: t.codeDir,
      handler: t.handler,
      memoryMb: t.config.memoryMb,
      cpus: t.config.cpus ?? null,
      network: t.config.network ?? 'egress',
      env: t.config.env,
    };
    log(`starting the version once: handler ${t.handler} must load and /healthz answer`);
    try {
      await this.backend.start(spec, signal);
    } catch (err) {
      // A stopped build (timeout, shutdown) is described by the build service; anything but a failed
      // start is ours (Docker down, a bug) and goes the internal-error way.
      if (signal.aborted || !isStratusError(err) || err.code !== 'INSTANCE_START_FAILED') throw err;
      const output = startOutputOf(err);
      if (output.length > 0) log('the runtime wrote:');
      for (const line of output) log(`  ${line}`);
      const summary = failureSummary(output);
      throw new BuildFailure(
        summary
          ? `the code failed to load: ${summary} (the runtime's output is in the build log)`
          : `the function could not start: ${err.message.replace(/; see the instance logs$/, '')}`,
      );
    }
    await this.backend.stop(instanceId, { graceMs: 0 }).catch((err: unknown) => this.logger.warn('stopping the load-check instance failed', { instanceId, err }));
    log('the handler loaded and /healthz answered');
  }
}
