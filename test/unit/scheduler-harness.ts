// Shared set-up of the scheduler unit tests: a FakeBackend, a ManualClock, a PoolScheduler with the
// autoscaler tick driven by hand, and a way to build DeployedVersions with a valid configuration.

import { parseFunctionConfig, type FunctionConfigInput } from '../../core/function-config.js';
import { ManualClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { MetricsRegistry } from '../../core/metrics.js';
import { createPlatformMetrics } from '../../core/platform-metrics.js';
import type { DeployedVersion } from '../../core/types.js';
import { Autoscaler, type ScaleDecision, type ScaleInput } from '../../scheduler/autoscaler.js';
import { PoolScheduler, type SchedulerSettings } from '../../scheduler/pool-scheduler.js';
import type { InstanceDirectory } from '../../scheduler/shared/directory.js';
import { FakeBackend } from '../support/fake-backend.js';

export function version(fn = 'hello', v = 1, cfg: Partial<FunctionConfigInput> = {}, extra: Partial<DeployedVersion> = {}): DeployedVersion {
  const config = parseFunctionConfig({ name: fn, runtime: 'node', ...cfg });
  return { function: fn, version: v, config, image: `127.0.0.1:5000/stratus/${fn}:${v}`, artifactDir: null, ...extra };
}

/** A scaling policy whose decision the test sets; null defers to "keep what is ready". */
export class ScriptedPolicy {
  desired: number | null = null;
  readonly observed: number[] = [];
  record(_now: number, concurrency: number): void {
    this.observed.push(concurrency);
  }
  decide(input: ScaleInput): ScaleDecision {
    const desired = this.desired ?? input.readyInstances;
    return { desired, panic: false, stableConcurrency: 0, panicConcurrency: 0, reason: 'scripted' };
  }
}

export interface Harness {
  backend: FakeBackend;
  clock: ManualClock;
  scheduler: PoolScheduler;
  policy: ScriptedPolicy;
  registry: MetricsRegistry;
  current: Map<string, number>;
  versions: Map<string, DeployedVersion>;
  cleanup(): Promise<void>;
}

export function harness(opts: { settings?: Partial<SchedulerSettings>; realAutoscaler?: boolean; directory?: InstanceDirectory } = {}): Harness {
  const backend = new FakeBackend();
  const clock = new ManualClock(1_000_000);
  const policy = new ScriptedPolicy();
  const registry = new MetricsRegistry();
  const current = new Map<string, number>();
  const versions = new Map<string, DeployedVersion>();
  const scheduler = new PoolScheduler({
    backend,
    clock,
    logger: silentLogger,
    metrics: createPlatformMetrics(registry),
    registry,
    autoTick: false,
    ...(opts.directory ? { directory: opts.directory } : {}),
    settings: {
      stemPoolSize: 0,
      queueDepth: 10,
      queueTimeoutMs: 60_000,
      tickMs: 1000,
      stableWindowMs: 1000,
      panicWindowMs: 1000,
      targetUtilization: 1,
      runtimeImages: { node: 'stratus/runtime-node:latest', python: 'stratus/runtime-python:latest' },
      startTimeoutMs: 5000,
      healthTimeoutMs: 300,
      drainTimeoutMs: 2000,
      ...opts.settings,
    },
    newAutoscaler: (s) => (opts.realAutoscaler ? new Autoscaler(s) : policy),
    lookupVersion: async (fn, v) => versions.get(`${fn}@${v}`) ?? null,
    currentVersion: async (fn) => current.get(fn) ?? null,
  });
  return {
    backend,
    clock,
    scheduler,
    policy,
    registry,
    current,
    versions,
    cleanup: async () => {
      await scheduler.close();
      await backend.close();
    },
  };
}

/** AcquireOptions on the harness clock: a deadline `ms` ahead. */
export const within = (h: Harness, ms = 60_000) => ({ deadline: h.clock.now() + ms });
