// Every metric Stratus exports, named and described in one place so that dashboards and alerts have a
// single list to read. Components receive the PlatformMetrics object (or the part they update) through
// their constructors; nothing registers metrics on its own.

import { MetricsRegistry, type Counter, type Gauge, type Histogram } from './metrics.js';

/** Request-path latencies: from half a millisecond (a warm dispatch) to 10 s (a slow cold start). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Invocations run up to the function timeout (at most 15 min); beyond 10 s the exact figure matters less. */
export const INVOCATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** Cold-start phases: a stem claim takes ~1 ms, a container create several hundred ms, an init up to seconds. */
export const COLD_START_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Build phases: an extraction takes milliseconds, an image build with a dependency install minutes. */
export const BUILD_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** The label every per-function metric carries; forgetFunction drops a deleted function's series by it. */
export const FUNCTION_LABEL = 'function';

/**
 * Drop a deleted function's series from every metric labelled by function (metrics added later included),
 * so /metrics stops exporting its last values. Takes the gateway's structural view of the registry.
 */
export function forgetFunction(registry: { forget?(label: string, value: string): unknown }, name: string): void {
  registry.forget?.(FUNCTION_LABEL, name);
}

export type ColdStartKind = 'stem' | 'container';
export type ColdStartPhase = 'claim' | 'create' | 'init' | 'first_byte';

export interface PlatformMetrics {
  /** Instances per function and state; set by a collect callback at scrape time. */
  instances: Gauge;
  /** Cold starts per function and kind (stem specialization or new container). */
  coldStarts: Counter;
  /** Requests waiting for an instance, per function. */
  queueDepth: Gauge;
  /** Time a request waited for an instance (0 when a warm one was free). */
  dispatchSeconds: Histogram;
  /** Whole invocation time, per function and final status (HTTP status class or error code). */
  invocationSeconds: Histogram;
  invocations: Counter;
  /** Duration of each cold-start phase: kind = stem|container, phase = claim|create|init|first_byte. */
  coldStartPhaseSeconds: Histogram;
  /** Generic runtime containers ready to be specialized, per runtime. */
  stemsReady: Gauge;
  builds: Counter;
  buildSeconds: Histogram;
  /** Metering as this process wrote it since it started (the exact, lasting figures: GET /v1/usage). */
  billedGbSeconds: Counter;
  billedRequests: Counter;
}

export function createPlatformMetrics(registry: MetricsRegistry): PlatformMetrics {
  return {
    instances: registry.gauge('stratus_instances', 'Function instances by state.', ['function', 'state']),
    coldStarts: registry.counter('stratus_cold_starts_total', 'Cold starts: a request that had to wait for a new instance (kind: stem or container).', ['function', 'kind']),
    queueDepth: registry.gauge('stratus_queue_depth', 'Requests queued waiting for an instance.', ['function']),
    dispatchSeconds: registry.histogram('stratus_dispatch_seconds', 'Time a request waited for an instance, in seconds.', ['function'], LATENCY_BUCKETS),
    invocationSeconds: registry.histogram('stratus_invocation_seconds', 'Invocation duration as seen by the gateway, in seconds.', ['function', 'status'], INVOCATION_BUCKETS),
    invocations: registry.counter('stratus_invocations_total', 'Invocations by final status.', ['function', 'status']),
    coldStartPhaseSeconds: registry.histogram('stratus_cold_start_phase_seconds', 'Duration of each cold-start phase (claim, create, init, first_byte), in seconds.', ['kind', 'phase'], COLD_START_BUCKETS),
    stemsReady: registry.gauge('stratus_stems_ready', 'Generic runtime containers (stems) ready to be specialized.', ['runtime']),
    builds: registry.counter('stratus_builds_total', 'Builds by final status.', ['status']),
    buildSeconds: registry.histogram('stratus_build_seconds', 'Duration of each build phase, in seconds.', ['phase'], BUILD_BUCKETS),
    billedGbSeconds: registry.counter('stratus_billed_gb_seconds_total', 'GB-seconds billed (duration rounded up to 1 ms × configured memory) by the invocation records this process wrote since it started.', ['function']),
    billedRequests: registry.counter('stratus_billed_requests_total', 'Requests billed by the invocation records this process wrote since it started.', ['function']),
  };
}
