// What PoolScheduler is built from: settings (from Config), the backend, clock, logger, metrics and the
// version lookups. Apart from the class so that the composition root and tests read one short file.

import type { Config } from '../core/config.js';
import type { Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { MetricsRegistry } from '../core/metrics.js';
import type { PlatformMetrics } from '../core/platform-metrics.js';
import type { DeployedVersion, Runtime } from '../core/types.js';
import type { AutoscalerSettings } from './autoscaler.js';
import type { Backend } from './backends/backend.js';
import type { InstanceDirectory } from './shared/directory.js';
import type { ScalingPolicy } from './version-pool.js';

/** The scheduler's slice of the platform config (core/config.ts), plus what it takes from the images and backend slices. */
export type SchedulerSettings = Omit<Config['scheduler'], 'stemIdleMs'> & {
  /** Config['scheduler'].stemIdleMs: stems of a runtime unused this long are stopped; undefined: never. */
  stemIdleMs?: number;
  /** Config['images'].runtime: the generic image a stem of each runtime runs. */
  runtimeImages: Record<Runtime, string>;
  /** Config['backend'].startTimeoutMs: a start (or a stem's /init) taking longer is abandoned. */
  startTimeoutMs: number;
  /** GET /healthz after a timed-out request must answer within this (default 2000 ms). */
  healthTimeoutMs?: number;
  /** close() waits this long for in-flight requests before stopping instances (default 10 s). */
  drainTimeoutMs?: number;
};

export type SchedulerMetrics = Pick<PlatformMetrics, 'instances' | 'coldStarts' | 'queueDepth' | 'dispatchSeconds' | 'coldStartPhaseSeconds' | 'stemsReady'>;

export interface SchedulerDeps {
  backend: Backend;
  clock: Clock;
  settings: SchedulerSettings;
  logger: Logger;
  metrics?: SchedulerMetrics;
  /** Where instance/queue/stem gauges are computed at scrape time. */
  registry?: Pick<MetricsRegistry, 'collect'>;
  lookupVersion(fn: string, version: number): Promise<DeployedVersion | null>;
  currentVersion(fn: string): Promise<number | null>;
  newAutoscaler(settings: AutoscalerSettings): ScalingPolicy;
  /** Where the replicas of one platform share instances and elect the leader; absent: this process is the platform. */
  directory?: InstanceDirectory;
  /** Run the autoscaler on a timer every tickMs (default true); tests drive tick() by hand. */
  autoTick?: boolean;
}
