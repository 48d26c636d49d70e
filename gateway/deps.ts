// What the gateway is built from. The composition root (main.ts) fills this; tests pass fakes.

import type { Builder } from '../builder/builder.js';
import type { Config } from '../core/config.js';
import type { Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { Store } from '../core/store/store.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { StorageKeyIssuer } from './api/routes/storage-keys.js';
import type { AsyncQueue } from '../control/invocations/async-queue.js';
import type { Notifier } from '../core/ports/notifier.js';
import type { ReleaseService } from '../control/releases/release-service.js';
import type { InvocationRecordSink } from '../control/invocations/invocation-records.js';
import type { DeliveryLog } from '../services/notify/deliveries.js';
import type { MinioEventSink } from './api/routes/hooks.js';
import type { ImageCollector } from './api/routes/admin.js';
import type { DashboardSources } from './ui/deps.js';

import type { InvocationMetrics, MetricsSource } from '../core/ports/metrics.js';

export interface GatewayDeps {
  config: Config;
  store: Store;
  builder: Builder;
  scheduler: Scheduler;
  metrics: InvocationMetrics;
  registry: MetricsSource;
  logger: Logger;
  apiKey: string;
  backendKind: string;
  clock: Clock;
  /** The async-invocation queue; without one an in-memory queue is made (and closed with the app). */
  asyncQueue?: AsyncQueue;
  /** Where every invocation's record goes (sync and async); without one records are discarded. */
  records?: InvocationRecordSink;
  /** S3 access keys of the object storage and its endpoint; without them /v1/storage/keys is not served. */
  storage?: { keys: StorageKeyIssuer; url: string };
  /** Where MinIO's bucket notifications (POST /v1/hooks/storage/minio) go; without it the hook is off. */
  storageTriggers?: MinioEventSink;
  /** A cron trigger's next fire times (ISO) from this replica's schedule, shown by GET …/triggers/:id. */
  nextCronFires?(triggerId: string): string[] | undefined;
  /** Where rollouts, rollbacks and error-rate alarms are told (services/notify/); without one they are not. */
  notifier?: Notifier;
  /** Alias moves, rollouts and rollbacks (made by the composition root, which the builder shares); absent: made here. */
  releases?: ReleaseService;
  /** Notification deliveries and their attempts (services/notify/); without them /v1/notifications is not served. */
  notifications?: DeliveryLog;
  /** The dashboard's in-memory hour of activity and its host probe (gateway/ui/sources.ts); without them its charts and host page are empty. */
  dashboard?: DashboardSources;
  /** Old versions' images (builder/image-retention.ts); without it POST /v1/admin/gc is not served. */
  images?: ImageCollector;
  /** How often a followed build log is polled (ms); tests shorten it. */
  buildLogPollMs?: number;
}
