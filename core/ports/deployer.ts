// The deploy port: how a side service that brings code (services/git/, a push from a forge) deploys it the
// same way an upload does — unpacking, checks, build, rollout — without knowing the control plane.
// control/functions/function-service.ts implements it; the composition root passes it.

import type { FunctionConfig } from '../function-config.js';
import type { Origin } from '../types.js';

export interface DeployResult {
  name: string;
  version: number;
  buildId: string | null;
  status: 'queued' | 'ready';
}

/**
 * How a deploy whose place in an order matters (a git push, in the order the hooks arrived) takes its version
 * number, instead of the next one: the number, or TurnPassed when a later deploy has taken one first.
 */
export type VersionTurn = () => Promise<number>;

/** A VersionTurn's refusal: nothing was recorded, and the upload is discarded. Its message says why. */
export class TurnPassed extends Error {}

export interface Deployer {
  /** Deploys the source at `source.path` (an archive or one file named `source.name`) as a new version of `config.name`. */
  deployUpload(config: FunctionConfig, buildId: string, source: { path: string; name: string }, origin?: Origin, turn?: VersionTurn): Promise<DeployResult>;
}
