// What the HTTP side is given: the services it routes to, made by the composition root
// (platform/assemble.ts). The gateway constructs none of them; tests build them through the same root.

import type http from 'node:http';
import type { Config } from '../core/config.js';
import type { Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { InvocationMetrics, MetricsSource } from '../core/ports/metrics.js';
import type { Store } from '../core/store/store.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { FunctionService } from '../control/functions/function-service.js';
import type { VersionSources } from '../control/functions/version-sources.js';
import type { AsyncInvocations } from '../control/invocations/async-invocations.js';
import type { InvocationRecordSink } from '../control/invocations/invocation-records.js';
import type { ReleaseService } from '../control/releases/release-service.js';
import type { TriggerService } from '../control/triggers/trigger-service.js';
import type { GitService } from '../services/git/index.js';
import type { StorageBrowser } from '../services/storage/browser.js';
import type { DeliveryLog } from '../services/notify/deliveries.js';
import type { AdminKeyCheck } from './api/auth.js';
import type { ImageCollector } from './api/routes/admin.js';
import type { MinioEventSink } from './api/routes/hooks.js';
import type { StorageKeyIssuer } from './api/routes/storage-keys.js';
import type { Origins } from './dataplane/origins.js';
import type { RouteTable } from './dataplane/route-table.js';
import type { Readiness } from './http/readiness.js';
import type { DashboardSources } from './ui/deps.js';

export interface GatewayDeps {
  /** /internal/code/…: a version's code for a stem holding a signed URL (gateway/dataplane/code-route.ts); absent: not served. */
  codeRoute?: http.RequestListener | undefined;
  config: Config;
  logger: Logger;
  clock: Clock;
  store: Store;
  scheduler: Scheduler;
  /** docker, process or kubernetes: named on /healthz. */
  backendKind: string;
  /** What GET /readyz answers: 503 once a stop began (its drain notice), 200 before. */
  readiness: Readiness;
  metrics: InvocationMetrics;
  registry: MetricsSource;
  /** Where every sync call's record goes (without I/O: the sink batches). */
  records: InvocationRecordSink;
  /** The data plane's view of which version serves each function URL. */
  routes: RouteTable;
  functions: FunctionService;
  /** Each version's kept upload: GET …/versions/N/source and the console's editor. */
  sources: VersionSources;
  releases: ReleaseService;
  triggers: TriggerService;
  asyncInvocations: AsyncInvocations;
  /** Push-to-deploy (services/git/): what the forges' webhook hands a push to. */
  git: GitService;
  /** Which hosts are function content's, and the URLs a function is served at. */
  origins: Origins;
  /** The admin key's check and its per-client throttle, shared by /v1 and the dashboard's sign-in. */
  adminKey: AdminKeyCheck;
  /** S3 access keys of the object storage and its endpoint; absent: /v1/storage/keys is not served. */
  storage?: { keys: StorageKeyIssuer; url: string; browser?: StorageBrowser };
  /** Where MinIO's bucket notifications (POST /v1/hooks/storage/minio) go; absent: the hook is off. */
  minioEvents?: MinioEventSink;
  /** Notification deliveries and their attempts (services/notify/); absent: /v1/notifications is not served. */
  notifications?: DeliveryLog;
  /** Old versions' images (builder/image-retention.ts); absent: POST /v1/admin/gc is not served. */
  images?: ImageCollector;
  /** The dashboard's in-memory hour of activity and its host probe; absent: its charts and host page are empty. */
  dashboard?: DashboardSources;
  /** How often a followed build log is polled (ms); tests shorten it. */
  buildLogPollMs?: number;
}
