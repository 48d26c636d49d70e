// The dashboard's sources, made once by the composition root: the in-memory hour of activity (fed by the
// record sink it taps and a sampler of instances and cold starts) and the host probe.

import type Docker from 'dockerode';
import type { Config } from '../../core/config.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { PlatformMetrics } from '../../core/platform-metrics.js';
import type { Store } from '../../core/store/store.js';
import type { PoolScheduler } from '../../scheduler/pool-scheduler.js';
import { Activity } from './activity.js';
import type { DashboardSources } from './deps.js';
import { HostProbe } from './host.js';

export interface SourcesDeps {
  config: Config;
  store: Store;
  scheduler: PoolScheduler;
  metrics: Pick<PlatformMetrics, 'coldStarts'>;
  docker: Docker | null;
  backendKind: string;
  platformId: string;
  clock: Clock;
  logger: Logger;
}

export function dashboardSources(d: SourcesDeps): DashboardSources {
  const logger = d.logger.child({ component: 'dashboard' });
  const activity = new Activity(d.clock, logger);
  activity.sample({
    functions: async () => (await d.store.listFunctions()).map((f) => f.name),
    instances: (fn) => d.scheduler.instances(fn).length,
    coldStarts: (fn) => d.metrics.coldStarts.get({ function: fn, kind: 'stem' }) + d.metrics.coldStarts.get({ function: fn, kind: 'container' }),
  });
  const host = new HostProbe({
    stateDir: d.config.stateDir,
    backend: d.backendKind,
    store: d.store.kind,
    redisUrl: d.store.kind === 'redis' ? d.config.store.redisUrl : null,
    registry: d.config.images.registry,
    docker: d.docker,
    platformId: d.platformId,
    instances: async () => (await d.store.listFunctions()).reduce((n, f) => n + d.scheduler.instances(f.name).length, 0),
    stems: () => d.scheduler.stems.runtimes().map((runtime) => ({ runtime, ready: d.scheduler.stems.readyCount(runtime), size: d.config.scheduler.stemPoolSize })),
    logger,
  });
  return {
    activity,
    host,
    close: async () => {
      await activity.close();
      await host.close();
    },
  };
}
