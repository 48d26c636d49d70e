// The platform's own wiring, shared by `npm start` and the tests: from the parts the machine provides
// (a store, a scheduler over a backend, a builder, a queue, notifications — or a test's fakes of them),
// make the control plane (releases, functions, triggers, async invocations, the error watch), the data
// plane's route cache and the HTTP app, each by constructor arguments, and register each one's close on
// the shutdown stack as it is made. start-platform.ts opens the parts on a real machine and listens;
// test/support/test-platform.ts gives fakes. Nothing here opens a socket or starts a loop: start() does.

import type http from 'node:http';
import { type Config } from '../core/config.js';
import type { Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import { forgetFunction } from '../core/platform-metrics.js';
import type { InvocationMetrics, MetricsSource } from '../core/ports/metrics.js';
import type { Notifier } from '../core/ports/notifier.js';
import type { StorageEvents } from '../core/ports/storage-events.js';
import type { Store } from '../core/store/store.js';
import type { Builder } from '../builder/builder.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { FunctionService } from '../control/functions/function-service.js';
import { AsyncInvocations } from '../control/invocations/async-invocations.js';
import type { AsyncQueue } from '../control/invocations/async-queue.js';
import { discardRecords, teeRecords, type InvocationRecordSink } from '../control/invocations/invocation-records.js';
import { Invoker } from '../control/invocations/invoker.js';
import { ErrorWatch } from '../control/releases/error-watch.js';
import { ServedVersions } from '../control/releases/served-versions.js';
import { ReleaseService } from '../control/releases/release-service.js';
import { CronScheduler } from '../control/triggers/cron-scheduler.js';
import { StorageDispatcher } from '../control/triggers/storage-dispatcher.js';
import { TriggerIndex } from '../control/triggers/trigger-index.js';
import { TriggerService } from '../control/triggers/trigger-service.js';
import { VersionSources } from '../control/functions/version-sources.js';
import { createGitService, type GitServiceDeps } from '../services/git/index.js';
import type { DeliveryLog } from '../services/notify/deliveries.js';
import type { StorageBrowser } from '../services/storage/browser.js';
import { createApp, type GatewayApp } from '../gateway/app.js';
import { adminKeyCheck } from '../gateway/api/auth.js';
import type { ImageCollector } from '../gateway/api/routes/admin.js';
import type { MinioEventSink } from '../gateway/api/routes/hooks.js';
import type { StorageKeyIssuer } from '../gateway/api/routes/storage-keys.js';
import { Origins } from '../gateway/dataplane/origins.js';
import { RouteTable } from '../gateway/dataplane/route-table.js';
import { Readiness } from '../gateway/http/readiness.js';
import type { DashboardSources } from '../gateway/ui/deps.js';
import type { ShutdownStack } from './shutdown.js';
import type { ArtifactStore } from '../core/ports/artifact-store.js';

/** What the machine provides (start-platform.ts) or a test fakes (test/support/test-platform.ts). */
export interface PlatformParts {
  config: Config;
  logger: Logger;
  clock: Clock;
  apiKey: string;
  store: Store;
  /** Named on /healthz and in the dashboard: docker, process or kubernetes. */
  backendKind: string;
  scheduler: Scheduler;
  /** The builder, made once releases exist: a finished build is rolled out through them. */
  builder(releases: ReleaseService): Builder;
  /** Where rollouts, rollbacks, alarms and failed builds are told (services/notify/). */
  notifier: Notifier;
  /** Notification deliveries and their attempts; absent: /v1/notifications is not served. */
  deliveries?: DeliveryLog;
  asyncQueue: AsyncQueue;
  /** Where every invocation's record is stored (batched); null: records are discarded. */
  records: InvocationRecordSink | null;
  metrics: InvocationMetrics;
  registry: MetricsSource;
  /** The S3 endpoint's access keys, URL and object events; null: no object storage. */
  storage: { keys: StorageKeyIssuer; url: string; events?: StorageEvents; browser?: StorageBrowser } | null;
  /** Old versions' images (builder/image-retention.ts); absent: POST /v1/admin/gc is not served. */
  images?: ImageCollector;
  /** The dashboard's hour of activity and host probe; absent: its charts and host page are empty. */
  dashboard?: DashboardSources;
  /** Where MinIO's webhook events go instead of the storage dispatcher (a test observing the hook). */
  minioEvents?: MinioEventSink;
  /** Bytes every replica reads (core/ports/artifact-store.ts): version sources kept by a build elsewhere; absent: this disk only. */
  artifacts?: ArtifactStore;
  /** How often a followed build log is polled (ms); tests shorten it. */
  buildLogPollMs?: number;
  /** Serves /internal/code/… (a version's code to a stem with a signed URL: platform/boot/stem-code.ts); absent: not served. */
  codeRoute?: http.RequestListener;
  /** The git service's fetch bound and resolver, for tests; production takes the defaults. */
  git?: Pick<GitServiceDeps, 'fetchTimeoutMs' | 'lookup'>;
}

export interface AssembledPlatform {
  /** The one request listener: function hosts, /fn, /v1, /ui. */
  app: GatewayApp;
  builder: Builder;
  releases: ReleaseService;
  functions: FunctionService;
  routes: RouteTable;
  /** Where every call's record goes (the store's writer, the dashboard's hour, the error-rate watch): a native data plane's calls too. */
  records: InvocationRecordSink;
  triggers: TriggerService;
  asyncInvocations: AsyncInvocations;
  /** Follows which versions aliases serve: prewarms them, retires the rest (a test harness starts only this). */
  servedVersions: ServedVersions;
  /** Starts the loops: served versions, the async queue's worker, the trigger view, cron, object events. */
  start(): Promise<void>;
}

export function assemblePlatform(parts: PlatformParts, shutdown: ShutdownStack): AssembledPlatform {
  const { config, store, scheduler, clock, notifier } = parts;
  const logger = parts.logger;
  const gatewayLogger = logger.child({ component: 'gateway' });

  // Every move of an alias — a build's rollout included — warms the new version first (control/releases/).
  const releases = new ReleaseService({
    store, scheduler, notifier, clock, logger: logger.child({ component: 'releases' }), rolloutDeadlineMs: config.releases.rolloutDeadlineMs,
  });
  const builder = parts.builder(releases);
  shutdown.add('work', 'builder', () => builder.close());

  // Every served version's minimum instances start (its runtime's stems kept ready), at start and as aliases
  // move; what no alias serves any more is retired after the rollback grace; a deleted function's instances
  // and metric series go, whichever replica deleted it. It follows the store, as the route cache does.
  const servedVersions = new ServedVersions({
    store, scheduler, logger: logger.child({ component: 'served-versions' }), rollbackWarmMs: config.releases.rollbackWarmMs,
    forgetMetrics: (fn) => forgetFunction(parts.registry, fn),
  });
  shutdown.add('work', 'served versions', () => servedVersions.close()); // no retire timer fires into a closed scheduler
  // The data plane's cache of which version serves each URL: refilled from the store's records and notices only.
  const routes = new RouteTable(store, gatewayLogger, clock);
  shutdown.add('intake', 'route cache', () => routes.close());
  const functions = new FunctionService(store, builder, scheduler, clock, gatewayLogger, (fn, v) => releases.promote(fn, v));
  // Push-to-deploy deploys through the same port an upload takes; a stop lets the pushes under way finish.
  const git = createGitService({ deployer: functions, store, config, logger, ...parts.git });
  shutdown.add('work', 'git pushes', () => git.close());

  // Automatic rollback: every invocation record also goes to the error-rate watch (in memory, no I/O per call).
  const errorWatch = config.releases.autoRollback
    ? new ErrorWatch({ store, releases, notifier, clock, logger: logger.child({ component: 'error-watch' }), settings: config.releases.autoRollback })
    : null;
  if (errorWatch) shutdown.add('work', 'error watch', () => errorWatch.close()); // a rollback it decided on finishes before the scheduler stops
  // The dashboard's hour of activity taps every record in memory too: no store read per call.
  const records = teeRecords(parts.records ?? discardRecords, parts.dashboard?.activity ?? null, errorWatch);

  const asyncQueue = parts.asyncQueue;
  const asyncInvocations = new AsyncInvocations({
    queue: asyncQueue,
    invoker: new Invoker({ scheduler, clock, records, logger: gatewayLogger.child({ component: 'invoker' }) }),
    resolve: (name) => routes.resolve(name),
    idempotencyWindowMs: config.events.idempotencyWindowMs,
  });
  const invocationStatus = async (id: string) => (await asyncQueue.get(id))?.status ?? null;

  // Every replica's in-memory view of the triggers: the cron schedule and the storage dispatcher act on it.
  const triggerIndex = new TriggerIndex(store, logger.child({ component: 'triggers' }));
  const cron = new CronScheduler({
    index: triggerIndex, store, clock, logger: logger.child({ component: 'cron' }),
    submit: (fn, data, opts) => asyncInvocations.submit(fn, data, opts), invocationStatus,
  });
  // Storage triggers: this storage's object events and a MinIO's webhooks, matched in memory, queued async.
  const storageTriggers = new StorageDispatcher({
    index: triggerIndex, store, clock, logger: logger.child({ component: 'storage-triggers' }),
    submit: (fn, data, opts) => asyncInvocations.submit(fn, data, opts),
  });
  // Intake: they stop before the queue drains (the work phase), so no fire is queued after it.
  shutdown.add('intake', 'trigger index', () => triggerIndex.close());
  shutdown.add('intake', 'storage triggers', () => storageTriggers.close());
  shutdown.add('intake', 'cron', () => cron.close());

  const triggers = new TriggerService({
    store, clock, invocationStatus,
    nextFires: (id) => cron.nextFires(id),
  });

  // A stop's first step: /readyz says 503 while calls are still served, for the drain notice, so a balancer takes
  // this replica out before the listener closes (else the calls it still sends meet SHUTTING_DOWN or a refused connect).
  const readiness = new Readiness();
  shutdown.add('notice', 'drain notice', async () => {
    readiness.drain();
    if (config.drainNoticeMs > 0) {
      logger.info(`stopping: /readyz answers 503; calls still served for ${config.drainNoticeMs} ms (STRATUS_DRAIN_NOTICE_MS)`);
      await new Promise((resolve) => setTimeout(resolve, config.drainNoticeMs));
    }
  });

  const app = createApp({
    config, logger: gatewayLogger, clock, store, scheduler, backendKind: parts.backendKind, readiness,
    metrics: parts.metrics, registry: parts.registry, records,
    routes, functions, releases, triggers, asyncInvocations, git,
    sources: new VersionSources(store, config.stateDir, { maxEntries: config.build.maxEntries, maxUnpackedBytes: config.build.maxUnpackedBytes, maxCompressionRatio: config.build.maxCompressionRatio }, parts.artifacts),
    origins: new Origins(config),
    // One check of the admin key, and one throttle of wrong keys, for /v1 and the dashboard's sign-in.
    adminKey: adminKeyCheck(parts.apiKey, clock, config.auth, gatewayLogger),
    storage: parts.storage ?? undefined,
    minioEvents: parts.minioEvents ?? storageTriggers,
    notifications: parts.deliveries,
    images: parts.images,
    dashboard: parts.dashboard,
    buildLogPollMs: parts.buildLogPollMs,
    codeRoute: parts.codeRoute,
  });
  shutdown.add('intake', 'gateway', () => app.close()); // followed build logs and the dashboard's streams end

  return {
    app, builder, releases, functions, routes, records, triggers, asyncInvocations, servedVersions,
    start: async () => {
      await servedVersions.start();
      asyncQueue.start(asyncInvocations.process);
      await triggerIndex.start();
      cron.start();
      storageTriggers.follow(parts.storage?.events ?? null);
    },
  };
}
