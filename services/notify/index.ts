// createNotifications: the notifier the composition root hands to producers, the delivery log the API
// lists, and one close() for all of it. On Redis the queue and the records live under the platform's
// prefix beside the async-invocation queue; in memory they end with the process.

import type { Config } from '../../core/config.js';
import { systemClock, type Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { createRedisClient } from '../../core/redis-client.js';
import type { Store } from '../../core/store/store.js';
import { MemoryDeliveryLog, RedisDeliveryLog, type DeliveryLog } from './deliveries.js';
import { BullDeliveryQueue, MemoryDeliveryQueue, type DeliveryQueue } from './delivery-queue.js';
import { createSmtpTransport } from './email.js';
import { FanOutNotifier, deliveryProcessor } from './fan-out.js';
import type { NotifyEventInput, Notifier } from '../../core/ports/notifier.js';
import { ChannelRoutes } from './routing.js';

export type { Notifier, NotifyEvent, NotifyEventInput, NotifyEventKind } from '../../core/ports/notifier.js';
export type { DeliveryLog, DeliveryRecord } from './deliveries.js';

/** Deliveries one process attempts at once. */
const CONCURRENCY = 4;

export interface NotificationsDeps {
  settings: Config['notify'];
  store: Pick<Store, 'getFunction'>;
  /** Where the queue and records live; null: in memory. */
  redis: { url: string; prefix: string } | null;
  /** Makes the links in payloads and emails absolute (STRATUS_PUBLIC_URL). */
  baseUrl: string | undefined;
  logger: Logger;
  clock?: Clock;
}

export interface Notifications extends Notifier {
  readonly deliveries: DeliveryLog;
}

/** Builds the channels, the queue and its worker (started at once: deliveries an earlier run left pending go on). */
export function createNotifications(deps: NotificationsDeps): Notifications {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger.child({ component: 'notify' });
  const transport = deps.settings.smtp ? createSmtpTransport(deps.settings.smtp, deps.settings.timeoutMs) : null;
  // One connection for the queue and the delivery records; no logger: commands made while Redis is away
  // fail as their callers' errors, and the queue logs its own.
  const redis = deps.redis ? createRedisClient(deps.redis.url, { name: 'stratus-notify', use: 'bullmq' }) : null;
  const log: DeliveryLog = redis && deps.redis ? new RedisDeliveryLog(redis, deps.redis.prefix) : new MemoryDeliveryLog(() => clock.now());
  const queue: DeliveryQueue = redis && deps.redis
    ? new BullDeliveryQueue({ connection: redis, prefix: deps.redis.prefix, concurrency: CONCURRENCY, logger })
    : new MemoryDeliveryQueue({ concurrency: CONCURRENCY, logger });
  const routes = new ChannelRoutes({ settings: deps.settings, store: deps.store, transport, baseUrl: deps.baseUrl, clock });
  const policy = { maxAttempts: deps.settings.attempts, backoffMs: deps.settings.backoffMs };
  const fanOut = new FanOutNotifier({ routes, log, queue, policy, clock, logger });
  queue.start(deliveryProcessor({ routes, log, policy, clock, logger }));

  let closing: Promise<void> | undefined;
  return {
    deliveries: log,
    notify: (event: NotifyEventInput) => fanOut.notify(event),
    close: () =>
      (closing ??= (async () => {
        await fanOut.close(); // waits for the attempts under way; pending retries stay queued (Redis) or end (memory)
        transport?.close();
        redis?.disconnect(); // no QUIT: with Redis away it would wait for a reconnect (core/bull-close.ts)
      })()),
  };
}
