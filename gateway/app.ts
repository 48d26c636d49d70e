// The HTTP side, wiring only: the control-plane API (express, /v1, /healthz, /readyz, /metrics), the dashboard (/ui)
// and the function URLs behind one request listener. It receives every service (platform/assemble.ts makes
// them) and constructs only HTTP: routers, the invoke handler. A function is served on its own host
// (NAME.fn.localhost) and, sandboxed, at /fn/NAME on the API's origin (gateway/dataplane/origins.ts).
// Function URLs never enter express: they go straight to the invoke handler.

import type http from 'node:http';
import express from 'express';
import { StratusError } from '../core/errors.js';
import { REQUEST_ID_HEADER } from '../core/invocation-contract.js';
import { CODE_URL_PREFIX } from '../core/code-url.js';
import { requireApiKey } from './api/auth.js';
import type { GatewayDeps } from './deps.js';
import { FUNCTION_URL_PREFIX, createInvokeHandler } from './dataplane/invoke.js';
import { problemMiddleware } from './http/problem.js';
import { requestIdOf } from './http/proxy-peer.js';
import type { RouteTable } from './dataplane/route-table.js';
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
import { sourcesRouter } from './api/routes/sources.js';
import { adminRouter } from './api/routes/admin.js';
import type { AsyncInvocations } from '../control/invocations/async-invocations.js';
import type { ReleaseService } from '../control/releases/release-service.js';
import type { TriggerService } from '../control/triggers/trigger-service.js';
import { createDashboard } from './ui/router.js';

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
  /** Ends followed build logs and the dashboard's streams; the HTTP server and the services are closed by their owner. */
  close(): Promise<void>;
}

export function createApp(deps: GatewayDeps): GatewayApp {
  const { logger, routes, asyncInvocations, triggers, releases, origins } = deps;
  const service = deps.functions;
  const invoke = createInvokeHandler({ routes, scheduler: deps.scheduler, metrics: deps.metrics, logger, clock: deps.clock, records: deps.records, async: asyncInvocations, functionsDomain: origins.domain });
  const auth = requireApiKey(deps.adminKey);
  const builds = buildsRouter(deps.store, logger, deps.buildLogPollMs ?? 250);
  const ui = createDashboard({
    config: deps.config, store: deps.store, scheduler: deps.scheduler, clock: deps.clock, dashboard: deps.dashboard,
    logger: logger.child({ component: 'dashboard' }), service, triggers, releases, asyncInvocations, adminKey: deps.adminKey, builds: builds.router, origins,
    storage: deps.storage,
    sources: deps.sources,
  });

  const api = express();
  api.disable('x-powered-by');
  api.use((req, res, next) => {
    res.setHeader(REQUEST_ID_HEADER, requestIdOf(req));
    next();
  });
  api.use(systemRouter({ registry: deps.registry, auth, storeKind: deps.store.kind, backendKind: deps.backendKind, readiness: deps.readiness }));
  // Webhooks from other systems carry their own credentials, never the admin key: before the key check.
  api.use('/v1', openApiRouter()); // the API's description: public, it holds nothing secret (routes/openapi.ts)
  api.use('/v1', hooksRouter({ minioToken: deps.config.storage.minioWebhookToken, storageTriggers: deps.minioEvents }));
  api.use('/v1', gitHooksRouter({ git: deps.git, store: deps.store, logger })); // proves the function's git.secret instead
  api.use('/ui', ui.router); // the dashboard (gateway/ui/): its own session cookie, which /v1 never takes
  api.use(
    '/v1',
    auth,
    functionsRouter({ service, triggers, scheduler: deps.scheduler, stateDir: deps.config.stateDir, maxUploadBytes: deps.config.build.maxUploadBytes, publicUrl: deps.config.publicUrl, origins }),
    sourcesRouter(deps.sources),
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
    else if (deps.codeRoute && url.startsWith(CODE_URL_PREFIX)) deps.codeRoute(req, res); // signed, for stems: no key
    else api(req, res);
  };
  return Object.assign(listener, {
    routes,
    asyncInvocations,
    triggers,
    releases,
    api,
    close: async () => {
      builds.close();
      ui.close();
    },
  });
}
