// The composition root: choose the store and the backend (falling back loudly to embedded defaults only
// when Redis or Docker is absent, else waiting for them), wire builder, scheduler and the HTTP app by
// constructor arguments, start listening; stop() shuts it all down in order. platform/main.ts calls it
// with the validated configuration; integration tests call it too.

import type Docker from 'dockerode';
import fs from 'node:fs/promises';
import http from 'node:http';
import { createBuilder, createImageRetention } from '../builder/index.js';
import { describeConfig, type Config } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { systemClock } from '../core/lifecycle.js';
import { platformIdFor } from '../core/platform-id.js';
import { MetricsRegistry } from '../core/metrics.js';
import { createPlatformMetrics } from '../core/platform-metrics.js';
import { createScheduler } from '../scheduler/index.js';
import { createApp } from '../gateway/app.js';
import { answerClientError } from '../gateway/http/client-error.js';
import { resolveApiKey } from './boot/api-key.js';
import { listenOn } from '../core/listen.js';
import { openBackend } from './boot/open-backend.js';
import { openStore } from './boot/open-store.js';
import { isLogSource } from '../scheduler/backends/backend.js';
import { LogCollector } from '../control/logs/log-collector.js';
import { BullAsyncQueue, type AsyncQueue } from '../control/invocations/async-queue.js';
import { BatchedRecordWriter, discardRecords, teeRecords } from '../control/invocations/invocation-records.js';
import { MemoryAsyncQueue } from '../control/invocations/memory-queue.js';
import { deployedVersionLookup } from '../core/versions.js';
import { createNotifications } from '../services/notify/index.js';
import { startStorage, type RunningStorage } from '../services/storage/server.js';
import { CronScheduler } from '../control/triggers/cron-scheduler.js';
import { StorageDispatcher } from '../control/triggers/storage-dispatcher.js';
import { TriggerIndex } from '../control/triggers/trigger-index.js';
import { ReleaseService } from '../control/releases/release-service.js';
import { ErrorWatch } from '../control/releases/error-watch.js';
import { dashboardSources } from '../gateway/ui/sources.js';
import { StopSteps } from './boot/stop-steps.js';
import { DEFAULT_FUNCTIONS_DOMAIN } from '../core/function-origin.js';

export interface RunningPlatform {
  url: string;
  apiKey: string;
  /** The S3-compatible object storage (its endpoint, access keys, object events); null when STRATUS_S3_PORT=off. */
  storage: RunningStorage | null;
  stop(): Promise<void>;
  /** The step a stop under way waits for (null: none), for the entry point to name if it gives up. */
  stopStep(): string | null;
}

// The dev.stratus.platform label's value; the default Redis key prefix is derived the same way.
export { platformIdFor } from '../core/platform-id.js';

/** Wiring that is no user setting: the bench's side-by-side runs use it (bench/platform-child.ts). */
export interface PlatformOptions {
  /** Keep no invocation records (the discardRecords sink): the warm path's cost without them, for comparison. */
  discardRecords?: boolean;
}

/** Start Stratus with a configuration; returns once it listens. Tests and main() both use this. */
export async function startPlatform(config: Config, logger: Logger, options: PlatformOptions = {}): Promise<RunningPlatform> {
  await fs.mkdir(config.stateDir, { recursive: true });
  logger.info('configuration', describeConfig(config));

  const apiKey = await resolveApiKey(config.apiKey, config.stateDir, logger);
  // Each waits for its service when it is meant to be there but not answering yet (boot/service-wait.ts).
  const store = await openStore(config, logger);
  const { backend, docker } = await openBackend(config, platformIdFor(config.stateDir), logger);
  const functionLogs = isLogSource(backend) ? new LogCollector(backend, store, { logger }) : null;
  if (docker) await warnOfMissingRuntimeImages(docker, config.images.runtime, logger);
  const registry = new MetricsRegistry();
  const metrics = createPlatformMetrics(registry);
  const clock = systemClock;
  const versions = deployedVersionLookup(store);

  // Before the builder: a build that fails (also one recover() gives up below) is announced through it.
  const notifications = createNotifications({ settings: config.notify, store, redis: store.kind === 'redis' ? { url: config.store.redisUrl, prefix: config.store.redisPrefix } : null, baseUrl: config.publicUrl, logger });
  const scheduler = createScheduler({
    backend,
    clock,
    settings: {
      ...config.scheduler,
      // A backend that cannot stage code into a running instance (Kubernetes) gets no stems.
      stemPoolSize: backend.supportsStems === false ? 0 : config.scheduler.stemPoolSize,
      runtimeImages: config.images.runtime,
      startTimeoutMs: config.backend.startTimeoutMs,
    },
    logger: logger.child({ component: 'scheduler' }),
    metrics,
    registry,
    lookupVersion: versions.lookup,
    currentVersion: versions.current,
  });
  // Every move of an alias — a build's rollout included — warms the new version first (control/releases/).
  const releases = new ReleaseService({
    store, scheduler, notifier: notifications, clock, logger: logger.child({ component: 'releases' }), rolloutDeadlineMs: config.releases.rolloutDeadlineMs,
  });
  const imageRetention = createImageRetention({ store, docker, images: config.images, stateDir: config.stateDir, logger, clock });
  const builder = createBuilder({
    store,
    docker,
    build: config.build,
    images: config.images,
    stateDir: config.stateDir,
    logger,
    clock,
    // Every build starts its version once through the scheduler, before it is ready; the instance stays warm for the rollout.
    loadCheck: scheduler,
    notifier: notifications,
    // After each rollout the function's old images go (those no alias uses, beyond STRATUS_IMAGES_KEPT).
    promote: (fn, version) => releases.promote(fn, version).finally(() => imageRetention.collectInBackground(fn)),
    // Installs run as the function uid, with the host's PATH (no Docker) and its proxy/registry settings only.
    installSandbox: { uid: config.backend.functionUid, hostPath: config.backend.processBaseEnv.PATH, passEnv: config.build.installEnv },
  });

  // A function missing from the store means deleted only if the store remembers earlier runs: an
  // in-memory store never does, and an empty Redis may have been flushed or restarted without its data.
  const storeRemembers = store.kind === 'redis' && (await store.listFunctions()).length > 0;
  await scheduler.reconcile({ storeRemembers });
  await builder.recover();
  for (const fn of await store.listFunctions()) {
    const deployed = fn.currentVersion === null ? null : await versions.lookup(fn.name, fn.currentVersion);
    // Every deployed version: its minimum instances start, and its runtime's stems are kept ready.
    if (deployed) scheduler.prewarm(deployed).catch((err) => logger.warn('prewarm failed', { function: fn.name, err }));
  }

  const ev = config.events;
  // Each stored batch is metered in the same write (core/store/usage.ts) and counted on /metrics.
  const records = options.discardRecords ? null : new BatchedRecordWriter(store, { retention: { maxPerFunction: ev.recordsKept, maxAgeMs: ev.recordsMaxAgeMs, usageMaxAgeMs: config.usage.maxAgeMs }, logger, metrics });
  // On Redis the queue lives beside the store, under the same per-platform prefix; in memory it is lost on stop.
  const asyncQueue: AsyncQueue = store.kind === 'redis'
    ? new BullAsyncQueue({ redisUrl: config.store.redisUrl, prefix: config.store.redisPrefix, concurrency: ev.asyncConcurrency, lockMs: ev.asyncLockMs, keepMs: ev.recordsMaxAgeMs, logger: logger.child({ component: 'async-queue' }) })
    : new MemoryAsyncQueue({ concurrency: ev.asyncConcurrency });
  const storage = config.storage.s3Port === null ? null : await startStorage({ stateDir: config.stateDir, host: config.host, port: config.storage.s3Port, maxObjectBytes: config.storage.maxObjectBytes, uploadExpiryMs: config.storage.uploadExpiryMs, quota: config.storage.quota }, logger);
  // Every replica's in-memory view of the triggers: the cron schedule and the storage dispatcher act on it.
  const triggerIndex = new TriggerIndex(store, logger.child({ component: 'triggers' }));
  const cron = new CronScheduler({
    index: triggerIndex, store, clock, logger: logger.child({ component: 'cron' }),
    submit: (fn, data, opts) => app.asyncInvocations.submit(fn, data, opts),
    invocationStatus: async (id) => (await asyncQueue.get(id))?.status ?? null,
  });
  // Storage triggers: this storage's object events and a MinIO's webhooks, matched in memory, queued async.
  const storageTriggers = new StorageDispatcher({
    index: triggerIndex, store, clock, logger: logger.child({ component: 'storage-triggers' }),
    submit: (fn, data, opts) => app.asyncInvocations.submit(fn, data, opts),
  });
  // Automatic rollback: every invocation record also goes to the error-rate watch (in memory, no I/O per call).
  const errorWatch = config.releases.autoRollback ? new ErrorWatch({ store, releases, notifier: notifications, clock, logger: logger.child({ component: 'error-watch' }), settings: config.releases.autoRollback }) : null;
  // The dashboard's hour of activity taps every record in memory (gateway/ui/): no store read per call.
  const dashboard = dashboardSources({ config, store, scheduler, metrics, docker, backendKind: backend.kind, platformId: platformIdFor(config.stateDir), clock, logger });
  const app = createApp({
    config, store, builder, scheduler, metrics, registry, logger, apiKey: apiKey.key, backendKind: backend.kind, clock, storage: storage ?? undefined, asyncQueue, records: teeRecords(records ?? discardRecords, dashboard.activity, errorWatch), notifications: notifications.deliveries, dashboard,
    nextCronFires: (id) => cron.nextFires(id), storageTriggers, notifier: notifications, releases,
    images: imageRetention,
  });
  asyncQueue.start(app.asyncInvocations.process);
  await triggerIndex.start();
  cron.start();
  storageTriggers.follow(storage?.events ?? null);
  const server = http.createServer({ keepAliveTimeout: 65_000 }, app);
  server.on('clientError', answerClientError(logger)); // a request Node's parser refuses: problem+json, then close
  const port = await listenOn(server, config.port, config.host, 'STRATUS_PORT');
  const url = config.publicUrl ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  logger.info(`Stratus is listening on ${url}`, { backend: backend.kind, store: store.kind });
  const fnOrigin = config.functions;
  logger.info(`functions are served at ${fnOrigin.protocol}//NAME.${fnOrigin.domain}:${fnOrigin.port ?? port}/ (their own origin) and, sandboxed, at ${url}/fn/NAME`);
  if (fnOrigin.domain === DEFAULT_FUNCTIONS_DOMAIN && (config.publicUrl !== undefined || !isLoopbackHost(config.host))) {
    logger.warn(`function hosts under ${DEFAULT_FUNCTIONS_DOMAIN} resolve to the browser's own machine: set STRATUS_FUNCTIONS_URL (e.g. https://fn.usercontent.example, a wildcard DNS name pointing here) for browsers elsewhere`);
  }
  if (apiKey.source === 'generated') {
    logger.info(`Generated the admin API key (shown once; saved in ${apiKey.file}): ${apiKey.key}`);
  } else if (apiKey.source === 'file') {
    logger.info(`admin API key: in ${apiKey.file}`);
  }

  let stopping: Promise<void> | undefined;
  const steps = new StopSteps(logger);
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('stopping: no new requests; draining in-flight invocations');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      app.close();
      await steps.run([
        ['cron', () => cron.close()], // no new cron fires from here on; those being queued finish
        ['storage triggers', () => storageTriggers.close()], // likewise for object events and MinIO's
        ['trigger index', () => triggerIndex.close()],
        ['async queue', () => asyncQueue.close()], // waits for the async invocations under way, before their instances go
        ['error watch', () => errorWatch?.close()], // a rollback it decided on finishes before the scheduler stops
        ['scheduler', () => scheduler.close()],
        ['builder', () => builder.close()],
        ['image retention', () => imageRetention.close()], // a collection after the last build finishes while the store is open
        ['notifications', () => notifications.close()], // after the builds: the last failure is queued; waits for attempts under way
        ['HTTP connections', () => {
          server.closeAllConnections();
          return closed;
        }],
        ['object storage', () => storage?.close()],
        ['backend', () => backend.close()],
        ['function logs', () => functionLogs?.close()], // after the backend: the last lines of drained instances
        ['invocation records', () => records?.close()],
        ['dashboard', () => dashboard.close()],
        ['store', () => store.close()],
      ]);
      logger.info('stopped');
    })());
  return { url, apiKey: apiKey.key, storage, stop, stopStep: () => steps.current() };
}

/** Builds and stems need the runtime images: say so at start rather than at the first upload. */
async function warnOfMissingRuntimeImages(docker: Docker, images: Config['images']['runtime'], logger: Logger): Promise<void> {
  for (const [runtime, image] of Object.entries(images)) {
    const present = await docker.getImage(image).inspect().then(() => true, () => false);
    if (!present) logger.warn(`*** the ${runtime} runtime image ${image} is missing: builds and stems of ${runtime} functions fail until you run \`bash scripts/build-runtime-images.sh\` ***`);
  }
}

/** A listen address only this machine reaches: 127.0.0.0/8, ::1 or localhost. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
