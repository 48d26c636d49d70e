// FanOutNotifier, the Notifier producers call: an event becomes one delivery record and one queued job
// per channel it is routed to (routing.ts). deliveryProcessor is what the queue's worker runs for each
// attempt: the channel as configured now, one attempt, the attempt written to the record, and the
// verdict — done, or the wait before the next attempt (retry.ts).

import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { AttemptOutcome } from './channel.js';
import type { DeliveryAttempt, DeliveryLog, DeliveryRecord } from './deliveries.js';
import type { DeliveryJob, DeliveryProcessor, DeliveryQueue } from './delivery-queue.js';
import { type NotifyEvent, type NotifyEventInput, type Notifier } from '../../core/ports/notifier.js';
import { summarize } from './event-text.js';
import { backoffDelay, type RetryPolicy } from './retry.js';
import type { ChannelRoutes } from './routing.js';

export interface FanOutOptions {
  routes: ChannelRoutes;
  log: DeliveryLog;
  queue: DeliveryQueue;
  policy: RetryPolicy;
  clock: Clock;
  logger: Logger;
}

export class FanOutNotifier implements Notifier {
  constructor(private readonly o: FanOutOptions) {}

  async notify(input: NotifyEventInput): Promise<void> {
    const { clock, log, queue, policy } = this.o;
    try {
      const event = { ...input, id: randomUUID(), time: iso(clock.now()) } as NotifyEvent;
      for (const { owner, channel } of await this.o.routes.channelsFor(event.function)) {
        const now = iso(clock.now());
        const record: DeliveryRecord = {
          id: randomUUID(), event: { id: event.id, kind: event.kind, function: event.function, version: event.version, time: event.time, summary: summarize(event) },
          channel: channel.kind, owner, target: channel.target, status: 'pending', maxAttempts: policy.maxAttempts, attempts: [], createdAt: now, updatedAt: now,
        };
        await log.add(record);
        await queue.enqueue({ deliveryId: record.id, event, channel: channel.kind, owner }, policy.maxAttempts);
      }
    } catch (err) {
      // A producer (a failing build, a rollback) goes on: losing a notification is logged, not thrown.
      this.o.logger.error('could not queue a notification', { kind: input.kind, function: input.function, err });
    }
  }

  async close(): Promise<void> {
    await this.o.queue.close();
  }
}

export function deliveryProcessor(o: Omit<FanOutOptions, 'queue'>): DeliveryProcessor {
  return async (job: DeliveryJob, attempt: number) => {
    const { clock, policy } = o;
    const routed = (await o.routes.channelsFor(job.event.function)).find((r) => r.owner === job.owner && r.channel.kind === job.channel);
    const started = clock.now();
    const outcome: AttemptOutcome = routed
      ? await routed.channel.attempt(job.event, { deliveryId: job.deliveryId, attempt })
      : { ok: false, statusCode: null, error: `the ${job.owner === 'global' ? 'platform' : "function's"} ${job.channel} channel is no longer configured`, retryable: false };
    const finished = clock.now();
    const retryInMs = !outcome.ok && outcome.retryable && attempt < policy.maxAttempts ? backoffDelay(attempt, policy, outcome.retryAfterMs) : null;
    const entry: DeliveryAttempt = {
      attempt, at: iso(started), durationMs: finished - started, ok: outcome.ok, statusCode: outcome.statusCode, error: outcome.error,
      nextAttemptAt: retryInMs === null ? null : iso(finished + retryInMs),
    };
    const record = await o.log.get(job.deliveryId);
    if (record) {
      record.attempts = [...record.attempts.filter((a) => a.attempt !== attempt), entry];
      record.status = outcome.ok ? 'delivered' : retryInMs === null ? 'failed' : 'pending';
      if (routed) record.target = routed.channel.target;
      record.updatedAt = iso(finished);
      await o.log.update(record);
    }
    const fields = { delivery: job.deliveryId, kind: job.event.kind, function: job.event.function, channel: job.channel, target: routed?.channel.target, attempt, statusCode: outcome.statusCode };
    if (outcome.ok) o.logger.debug('notification delivered', fields);
    else if (retryInMs === null) o.logger.warn('notification not delivered; giving up', { ...fields, error: outcome.error });
    else o.logger.debug('notification attempt failed; will retry', { ...fields, error: outcome.error, retryInMs });
    return retryInMs === null ? null : { retryInMs };
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
