// Stratus on a real machine: choose the store and the backend (falling back loudly to embedded defaults
// only when Redis or Docker is absent, else waiting for them), open what the platform runs on — the
// scheduler over the backend, the builder, the async queue, notifications, the object storage — hand
// them to assemble.ts (the wiring the tests share), start the loops, listen. Each part registers its
// close on the shutdown stack as it is made; stop() runs it. platform/main.ts calls this with the
// validated configuration; integration tests call it too.

import type Docker from 'dockerode';
import fs from 'node:fs/promises';
import http from 'node:http';
import { createBuilder, createImageRetention } from '../builder/index.js';
import { describeConfig, type Config } from '../core/config.js';
import { DEFAULT_FUNCTIONS_DOMAIN } from '../core/function-origin.js';
import { systemClock } from '../core/lifecycle.js';
import { listenOn } from '../core/listen.js';
import type { Logger } from '../core/log.js';
import { MetricsRegistry } from '../core/metrics.js';
import { createPlatformMetrics } from '../core/platform-metrics.js';
import { deployedVersionLookup } from '../core/versions.js';
import { createScheduler } from '../scheduler/index.js';
import { isLogSource } from '../scheduler/backends/backend.js';
import { BullAsyncQueue, type AsyncQueue } from '../control/invocations/async-queue.js';
import { BatchedRecordWriter } from '../control/invocations/invocation-records.js';
import { MemoryAsyncQueue } from '../control/invocations/memory-queue.js';
import { LogCollector } from '../control/logs/log-collector.js';
import { createNotifications } from '../services/notify/index.js';
import { startStorage, type RunningStorage } from '../services/storage/server.js';
import { answerClientError } from '../gateway/http/client-error.js';
import { trustAsProxy } from '../gateway/http/proxy-peer.js';
import { dashboardSources } from '../gateway/ui/sources.js';
import { assemblePlatform } from './assemble.js';
import { resolveApiKey, type ApiKeyResolution as ResolvedApiKey } from './boot/api-key.js';
import { openBackend } from './boot/open-backend.js';
import { openDirectory } from './boot/open-directory.js';
import { openNativePlane } from './boot/open-native.js';
import { openStore } from './boot/open-store.js';
import { stemCode } from './boot/stem-code.js';
import { ShutdownStack } from './shutdown.js';
import { RedisArtifactStore } from '../core/store/artifacts-redis.js';
import { DirArtifactStore } from '../core/store/artifacts-dir.js';
import { StateLayout } from '../core/state-layout.js';

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
  // Every part registers its close as it is made; stop runs them by phase, the newest first (shutdown.ts).
  const shutdown = new ShutdownStack(logger);
  const clock = systemClock;

  const apiKey = await resolveApiKey(config.apiKey, config.stateDir, logger);
  // Each waits for its service when it is meant to be there but not answering yet (boot/service-wait.ts).
  const store = await openStore(config, logger);
  shutdown.add('state', 'store', () => store.close());
  // Bytes any replica reads: uploads waiting for a build worker, and versions' kept sources (builder/artifact-keys.ts), and
  // the code archives stems fetch over a signed URL (on Kubernetes; on Docker with STRATUS_STEM_CODE=http), packed once
  // by whichever replica first serves the version.
  const artifacts = store.kind === 'redis'
    ? new RedisArtifactStore(config.store.redisUrl, config.store.redisPrefix, logger.child({ component: 'artifacts' }))
    : new DirArtifactStore(new StateLayout(config.stateDir).artifactStore);
  if (artifacts instanceof RedisArtifactStore) shutdown.add('state', 'artifact store', () => artifacts.close());
  const code = stemCode({ store, apiKey: apiKey.key, artifacts, clock, logger: logger.child({ component: 'stem-code' }) });
  const { backend, docker, codeSocket } = await openBackend(config, config.platformId, logger, {}, code);
  shutdown.add('instances', 'backend', () => backend.close());
  // HAProxy in front (the native data plane), or Stratus alone: decided once, said at start (boot/open-native.ts).
  const front = await openNativePlane(config, backend.kind, logger, shutdown);
  if (codeSocket) shutdown.add('connections', 'code socket', () => codeSocket.close());
  // Closed after the backend (a later phase): the last lines of drained instances are kept.
  const functionLogs = isLogSource(backend) ? new LogCollector(backend, store, { logger }) : null;
  if (functionLogs) shutdown.add('state', 'function logs', () => functionLogs.close());
  if (docker) await warnOfMissingRuntimeImages(docker, config.images.runtime, logger);
  const registry = new MetricsRegistry();
  const metrics = createPlatformMetrics(registry);
  const versions = deployedVersionLookup(store);

  // Before the builder: a build that fails (also one recover() gives up below) is announced through it.
  const notifications = createNotifications({ settings: config.notify, store, redis: store.kind === 'redis' ? { url: config.store.redisUrl, prefix: config.store.redisPrefix } : null, baseUrl: config.publicUrl, logger });
  shutdown.add('work', 'notifications', () => notifications.close()); // after the builds: the last failure is queued
  // Replicas of one platform share their instances and elect one leader to scale them (scheduler/shared/).
  const directory = await openDirectory(config, store.kind, backend.kind, logger);
  const scheduler = createScheduler({
    directory,
    backend,
    clock,
    settings: {
      ...config.scheduler,
      // A backend that cannot hand code to a running instance (Kubernetes without STRATUS_INTERNAL_URL) gets no stems.
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
  shutdown.add('work', 'scheduler', () => scheduler.close());
  const imageRetention = createImageRetention({ store, docker, images: config.images, stateDir: config.stateDir, logger, clock });
  shutdown.add('work', 'image retention', () => imageRetention.close()); // a collection after the last build, while the store is open

  const ev = config.events;
  // Each stored batch is metered in the same write (core/store/usage.ts) and counted on /metrics.
  const records = options.discardRecords ? null : new BatchedRecordWriter(store, { retention: { maxPerFunction: ev.recordsKept, maxAgeMs: ev.recordsMaxAgeMs, usageMaxAgeMs: config.usage.maxAgeMs }, logger, metrics });
  if (records) shutdown.add('state', 'invocation records', () => records.close());
  // At the stop's start: an async attempt waiting for its record to be stored must not wait for a store that is
  // away (it would hold the work phase, which waits for the attempt, before the state phase closes the writer).
  if (records) shutdown.add('intake', 'invocation records: no more retries', () => records.endRetries());
  // On Redis the queue lives beside the store, under the same per-platform prefix; in memory it is lost on stop.
  const asyncQueue: AsyncQueue = store.kind === 'redis'
    ? new BullAsyncQueue({ redisUrl: config.store.redisUrl, prefix: config.store.redisPrefix, concurrency: ev.asyncConcurrency, lockMs: ev.asyncLockMs, keepMs: ev.recordsMaxAgeMs, logger: logger.child({ component: 'async-queue' }) })
    : new MemoryAsyncQueue({ concurrency: ev.asyncConcurrency });
  shutdown.add('work', 'async queue', () => asyncQueue.close()); // waits for the async invocations under way, before their instances go
  const storage = config.storage.s3Port === null ? null : await startStorage({ stateDir: config.stateDir, host: config.host, port: config.storage.s3Port, maxObjectBytes: config.storage.maxObjectBytes, uploadExpiryMs: config.storage.uploadExpiryMs, quota: config.storage.quota }, logger);
  if (storage) shutdown.add('connections', 'object storage', () => storage.close());
  const dashboard = dashboardSources({ config, store, scheduler, metrics, docker, backendKind: backend.kind, platformId: config.platformId, clock, logger });
  shutdown.add('state', 'dashboard', () => dashboard.close());

  const platform = assemblePlatform({
    config, logger, clock, apiKey: apiKey.key, store, backendKind: backend.kind, scheduler,
    builder: (releases) => createBuilder({
      store,
      docker,
      build: config.build,
      images: config.images,
      stateDir: config.stateDir,
      logger,
      clock,
      // Every build starts its version once through the scheduler before it is ready; that instance stays, warm for the rollout.
      loadCheck: scheduler,
      notifier: notifications,
      // After each rollout the function's old images go (those no alias uses, beyond STRATUS_IMAGES_KEPT).
      promote: (fn, version) => releases.promote(fn, version).finally(() => imageRetention.collectInBackground(fn)),
      // Installs run as the function uid, with the host's PATH (no Docker) and its proxy/registry settings only.
      installSandbox: { uid: config.backend.functionUid, hostPath: config.backend.processBaseEnv.PATH, passEnv: config.build.installEnv },
      // On Redis the replicas share one build queue; a replica on a cluster without a Docker engine queues builds but runs none.
      queue: store.kind === 'redis' ? { redisUrl: config.store.redisUrl, prefix: config.store.redisPrefix, artifacts, takesBuilds: backend.kind !== 'kubernetes' || docker !== null } : null,
    }),
    artifacts,
    notifier: notifications, deliveries: notifications.deliveries, asyncQueue, records, metrics, registry, storage, images: imageRetention, dashboard,
    codeRoute: code.route,
  }, shutdown);

  // A function missing from the store means deleted only if the store remembers earlier runs: an
  // in-memory store never does, and an empty Redis may have been flushed or restarted without its data.
  const storeRemembers = store.kind === 'redis' && (await store.listFunctions()).length > 0;
  await scheduler.reconcile({ storeRemembers });
  await platform.builder.recover();
  // Served versions are prewarmed first (minimum instances, stems), then the queue, cron and object events start.
  await platform.start();

  const server = http.createServer({ keepAliveTimeout: 65_000 }, platform.app);
  server.on('clientError', answerClientError(logger)); // a request Node's parser refuses: problem+json, then close
  // Behind HAProxy, Stratus listens on the activator's private socket and believes its peer's headers there.
  if (front) trustAsProxy(server);
  if (front) await listenOnSocket(server, front.activatorSocket);
  const port = front ? front.port : await listenOn(server, config.port, config.host, 'STRATUS_PORT');
  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  // First of all: no new requests (keep-alive connections idle now are closed, busy ones finish their call).
  shutdown.add('intake', 'listener', () => {
    server.close();
    server.closeIdleConnections();
  });
  shutdown.add('connections', 'HTTP connections', () => {
    server.closeAllConnections();
    return closed;
  });
  if (front) await front.start({ scheduler, routes: platform.routes, records: platform.records, metrics, registry, clock });
  const url = config.publicUrl ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  announce(config, logger, url, port, backend.kind, store.kind, apiKey);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('stopping: no new requests; draining in-flight invocations');
      await shutdown.stop();
      logger.info('stopped');
    })());
  return { url, apiKey: apiKey.key, storage, stop, stopStep: () => shutdown.current() };
}

/** Listens on the activator's unix socket (HAProxy's only way to Stratus). */
function listenOnSocket(server: http.Server, socketPath: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
}

/** Where everything is served, said once at start. */
function announce(config: Config, logger: Logger, url: string, port: number, backendKind: string, storeKind: string, apiKey: ResolvedApiKey): void {
  logger.info(`Stratus is listening on ${url}`, { backend: backendKind, store: storeKind });
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
