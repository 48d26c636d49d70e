// The load check straight through a Backend, without a Scheduler: the version is started once with the
// spec the scheduler would use and stopped again. For a builder that runs without a scheduler (tests of
// the build, a build-only tool); the platform hands the builder its Scheduler instead, whose probe keeps
// the ready instance for the rollout and the first call (pool-scheduler.ts).

import type { Logger } from '../core/log.js';
import type { LoadCheck } from '../core/ports/load-check.js';
import type { DeployedVersion } from '../core/types.js';
import type { Backend } from './backends/backend.js';
import { asLoadFailure } from './backends/start-output.js';
import { functionSpec } from './instance-spec.js';

export class BackendLoadCheck implements LoadCheck {
  constructor(
    private readonly backend: Pick<Backend, 'start' | 'stop'>,
    private readonly logger: Logger,
  ) {}

  async probe(target: DeployedVersion, signal: AbortSignal): Promise<void> {
    const spec = functionSpec(target);
    try {
      await this.backend.start(spec, signal);
    } catch (err) {
      throw asLoadFailure(err);
    }
    const instanceId = spec.instanceId;
    await this.backend.stop(instanceId, { graceMs: 0 }).catch((err: unknown) => this.logger.warn('stopping the load-check instance failed', { instanceId, err }));
  }
}
