// Wiring only: the control-plane API (express, /v1, /healthz, /metrics), the dashboard (/ui) and the
// function URLs behind one request listener. A function is served on its own host (NAME.fn.localhost) and,
// sandboxed, at /fn/NAME on the API's origin (gateway/dataplane/origins.ts). Function URLs never enter express: they
// go straight to the invoke handler.

import type http from 'node:http';
import express from 'express';
import { StratusError } from '../core/errors.js';
import { newRequestId } from '../core/ids.js';
import { forgetFunction } from '../core/platform-metrics.js';
import { adminKeyCheck, requireApiKey } from './api/auth.js';
import type { GatewayDeps } from './deps.js';
import { AsyncInvocations } from '../control/invocations/async-invocations.js';
import { discardRecords } from '../control/invocations/invocation-records.js';
import { Invoker } from '../control/invocations/invoker.js';
import { MemoryAsyncQueue } from '../control/invocations/memory-queue.js';
import { FunctionService } from '../control/functions/function-service.js';
import { FUNCTION_URL_PREFIX, createInvokeHandler } from './dataplane/invoke.js';
import { problemMiddleware } from './http/problem.js';
import { RouteTable } from './dataplane/route-table.js';
import { buildsRouter } from './api/routes/builds.js';
import { functionsRouter } from './api/routes/functions.js';
import { gitHooksRouter } from './api/routes/git-hooks.js';
import { hooksRouter } from './api/routes/hooks.js';
import { openApiRouter } from './api/routes/openapi.js';
import { invocationsRouter } from './api/routes/invocations.js';
import { logsRouter } from './api/routes/logs.js';
import { notificationsRouter } from './api/routes/notifications.js';
import { storageKeysRouter } from './api/routes/storage-keys.js';
import { systemRouter } from './api/routes/system.js';
import { triggersRouter } from './api/routes/triggers.js';
import { usageRouter } from './api/routes/usage.js';
import { releasesRouter } from './api/routes/releases.js';
import { adminRouter } from './api/routes/admin.js';
import { ReleaseService } from '../control/releases/release-service.js';
import { silentNotifier } from '../core/ports/notifier.js';
import { TriggerService } from '../control/triggers/trigger-service.js';
import { createDashboard } from './ui/router.js';
import { Origins } from './dataplane/origins.js';
import { REQUEST_ID_HEADER } from '../core/invocation-contract.js';

export type { GatewayDeps } from './deps.js';

export interface GatewayApp extends http.RequestListener {
  readonly routes: RouteTable;
  /** Async submissions and the queue worker's processor (started by the composition root). */
  readonly asyncInvocations: AsyncInvocations;
  /** Triggers and invoke keys as the API manages them. */
  readonly triggers: TriggerService;
  /** Alias moves, rollouts and rollbacks. */
  readonly releases: ReleaseService;
  /** The express app behind /v1, /healthz, /metrics and /ui: what it mounts is held equal to the OpenAPI document. */
  readonly api: express.Express;
  /** Stops watching the store and ends followed build logs; the HTTP server is closed by its owner. */
  close(): Promise<void>;
}

export function createApp(deps: GatewayDeps): GatewayApp {
  const logger = deps.logger.child({ component: 'gateway' });
  // A deleted function's metric series go, whichever replica deleted it (core/platform-metrics.ts).
  const forgetMetrics = (fn: string) => forgetFunction(deps.registry, fn);
  const routes = new RouteTable(deps.store, deps.scheduler, logger, deps.clock, deps.config.releases.rollbackWarmMs, forgetMetrics);
  const releases = deps.releases ?? new ReleaseService({
    store: deps.store, scheduler: deps.scheduler, notifier: deps.notifier ?? silentNotifier, clock: deps.clock,
    logger: logger.child({ component: 'releases' }), rolloutDeadlineMs: deps.config.releases.rolloutDeadlineMs,
  });
  const service = new FunctionService(deps.store, deps.builder, deps.scheduler, routes, deps.clock, logger, (fn, v) => releases.promote(fn, v), forgetMetrics);
  const records = deps.records ?? discardRecords;
  const ownQueue = deps.asyncQueue ? null : new MemoryAsyncQueue({ concurrency: deps.config.events.asyncConcurrency });
  const asyncInvocations = new AsyncInvocations({
    queue: deps.asyncQueue ?? ownQueue!,
    invoker: new Invoker({ scheduler: deps.scheduler, clock: deps.clock, records, logger: logger.child({ component: 'invoker' }) }),
    resolve: (name) => routes.resolve(name),
    idempotencyWindowMs: deps.config.events.idempotencyWindowMs,
  });
  const triggers = new TriggerService({
    store: deps.store,
    clock: deps.clock,
    invocationStatus: async (id) => (await asyncInvocations.queue.get(id))?.status ?? null,
    nextFires: deps.nextCronFires,
    // A failed re-read is logged; the change itself is stored and announced already.
    changed: (fn) => routes.refresh(fn).catch((err: unknown) => logger.warn('route refresh after a trigger change failed', { function: fn, err })),
  });
  const origins = new Origins(deps.config);
  const invoke = createInvokeHandler({ routes, scheduler: deps.scheduler, metrics: deps.metrics, logger, clock: deps.clock, records, async: asyncInvocations, functionsDomain: origins.domain });
  // One check of the admin key, and one throttle of wrong keys, for /v1 and the dashboard's sign-in.
  const adminKey = adminKeyCheck(deps.apiKey, deps.clock, deps.config.auth, logger);
  const auth = requireApiKey(adminKey);
  const builds = buildsRouter(deps.store, logger, deps.buildLogPollMs ?? 250);
  const ui = createDashboard({ ...deps, logger: logger.child({ component: 'dashboard' }), service, triggers, releases, asyncInvocations, adminKey, builds: builds.router, origins });

  const api = express();
  api.disable('x-powered-by');
  api.use((_req, res, next) => {
    res.setHeader(REQUEST_ID_HEADER, newRequestId());
    next();
  });
  api.use(systemRouter({ registry: deps.registry, auth, storeKind: deps.store.kind, backendKind: deps.backendKind }));
  // Webhooks from other systems carry their own credentials, never the admin key: before the key check.
  api.use('/v1', openApiRouter()); // the API's description: public, it holds nothing secret (routes/openapi.ts)
  api.use('/v1', hooksRouter({ minioToken: deps.config.storage.minioWebhookToken, storageTriggers: deps.storageTriggers }));
  api.use('/v1', gitHooksRouter({ service, store: deps.store, config: deps.config, logger })); // proves the function's git.secret instead
  api.use('/ui', ui.router); // the dashboard (gateway/ui/): its own session cookie, which /v1 never takes
  api.use(
    '/v1',
    auth,
    functionsRouter({ service, triggers, scheduler: deps.scheduler, stateDir: deps.config.stateDir, maxUploadBytes: deps.config.build.maxUploadBytes, publicUrl: deps.config.publicUrl, origins }),
    logsRouter({ service, store: deps.store }),
    invocationsRouter({ service, store: deps.store, async: asyncInvocations }),
    builds.router,
    ...(deps.notifications ? [notificationsRouter(deps.notifications)] : []),
    triggersRouter(triggers),
    ...(deps.images ? [adminRouter(deps.images)] : []),
    releasesRouter(releases, deps.store),
    usageRouter({ store: deps.store, clock: deps.clock, usage: deps.config.usage }),
    ...(deps.storage ? [storageKeysRouter(deps.storage.keys, deps.storage.url)] : []),
  );
  api.use((req, _res, next) => next(new StratusError('NOT_FOUND', `no route for ${req.method} ${req.path}; the API lives under /v1, function URLs under /fn/NAME`)));
  api.use(problemMiddleware(logger));

  // The Host decides the origin first: on a function's own host every path is the function's.
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const fnHost = origins.functionHost(req.headers.host);
    if (fnHost !== null) return invoke.onFunctionHost(req, res, fnHost);
    const url = req.url ?? '/';
    if (url.startsWith(FUNCTION_URL_PREFIX) || url === '/fn') invoke.onApiPath(req, res);
    else api(req, res);
  };
  return Object.assign(listener, {
    routes,
    asyncInvocations,
    triggers,
    releases,
    api,
    close: async () => {
      await ownQueue?.close();
      builds.close();
      ui.close();
      await routes.close();
    },
  });
}
