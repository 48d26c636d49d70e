// The scheduler's factory for the composition root: the Scheduler interface backed by PoolScheduler,
// with the KPA-style autoscaler. platform/main.ts calls createScheduler once and reconcile() at start.

import { Autoscaler } from './autoscaler.js';
import { PoolScheduler, type SchedulerDeps } from './pool-scheduler.js';

export type { SchedulerDeps, SchedulerSettings, SchedulerMetrics } from './pool-scheduler.js';
export { PoolScheduler } from './pool-scheduler.js';

export function createScheduler(deps: Omit<SchedulerDeps, 'newAutoscaler'> & Partial<Pick<SchedulerDeps, 'newAutoscaler'>>): PoolScheduler {
  return new PoolScheduler({ newAutoscaler: (s) => new Autoscaler(s), ...deps });
}
