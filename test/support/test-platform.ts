// The platform for a test, built through the composition root's own wiring (platform/assemble.ts) from
// in-memory parts: a MemoryStore, the given scheduler and builder (fakes, usually), an in-memory async
// queue, no notifications. What differs from `npm start` is only what start-platform.ts opens on a real
// machine; every service the API and the data plane use is made the same way. stop() runs the same
// shutdown stack.

import type { Builder } from '../../builder/builder.js';
import type { Config } from '../../core/config.js';
import { systemClock, type Clock } from '../../core/lifecycle.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { InvocationMetrics, MetricsSource } from '../../core/ports/metrics.js';
import { silentNotifier, type Notifier } from '../../core/ports/notifier.js';
import type { Store } from '../../core/store/store.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { AsyncQueue } from '../../control/invocations/async-queue.js';
import { MemoryAsyncQueue } from '../../control/invocations/memory-queue.js';
import { assemblePlatform, type AssembledPlatform, type PlatformParts } from '../../platform/assemble.js';
import { ShutdownStack } from '../../platform/shutdown.js';

export interface TestPlatformParts extends Partial<Omit<PlatformParts, 'builder' | 'scheduler' | 'store' | 'config'>> {
  config: Config;
  store: Store;
  scheduler: Scheduler;
  builder: Builder;
}

export interface TestPlatform extends AssembledPlatform {
  shutdown: ShutdownStack;
  stop(): Promise<void>;
}

const noMetrics: InvocationMetrics = { invocations: { inc: () => {} }, invocationSeconds: { observe: () => {} }, coldStartPhaseSeconds: { observe: () => {} } };

export function testPlatform(parts: TestPlatformParts): TestPlatform {
  const logger: Logger = parts.logger ?? silentLogger;
  const shutdown = new ShutdownStack(logger);
  shutdown.add('state', 'store', () => parts.store.close());
  shutdown.add('work', 'scheduler', () => parts.scheduler.close());
  const asyncQueue: AsyncQueue = parts.asyncQueue ?? new MemoryAsyncQueue({ concurrency: parts.config.events.asyncConcurrency });
  if (!parts.asyncQueue) shutdown.add('work', 'async queue', () => asyncQueue.close()); // one a test passes, the test closes
  const notifier: Notifier = parts.notifier ?? silentNotifier;
  const clock: Clock = parts.clock ?? systemClock;
  const registry: MetricsSource = parts.registry ?? { render: () => '' };
  const platform = assemblePlatform({
    ...parts,
    logger, clock, notifier, asyncQueue, registry,
    apiKey: parts.apiKey ?? 'test-key-0123456789abcdef',
    backendKind: parts.backendKind ?? 'process',
    builder: () => parts.builder,
    records: parts.records ?? null,
    metrics: parts.metrics ?? noMetrics,
    storage: parts.storage ?? null,
  }, shutdown);
  return { ...platform, shutdown, stop: () => shutdown.stop() };
}
