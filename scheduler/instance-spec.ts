// What a function instance of one version is started with: the same spec for a cold start of the
// scheduler and for a load check run straight through the backend, so the check starts the version
// exactly as it will be run.

import { DEFAULT_HANDLER } from '../core/function-config.js';
import type { DeployedVersion } from '../core/types.js';
import type { InstanceSpec } from './backends/backend.js';
import { functionInstanceId } from './instance-id.js';

export function effectiveHandler(v: DeployedVersion): string | null {
  if (v.handler) return v.handler;
  if (v.config.handler) return v.config.handler;
  return v.config.runtime ? DEFAULT_HANDLER[v.config.runtime] : null;
}

/** A new instance of `v` from its image (or, without images, its code tree), under a fresh id. */
export function functionSpec(v: DeployedVersion): InstanceSpec {
  return {
    instanceId: functionInstanceId(v.function, v.version),
    role: 'function',
    runtime: v.config.runtime ?? null,
    function: v.function,
    version: v.version,
    image: v.image,
    artifactDir: v.artifactDir,
    handler: effectiveHandler(v),
    memoryMb: v.config.memoryMb,
    cpus: v.config.cpus ?? null,
    network: v.config.network ?? 'egress',
    env: v.config.env,
    concurrency: v.config.concurrency,
  };
}
