// The Scheduler seam between the data plane (function URLs, later cron/storage/async triggers) and
// instances. acquire() hands out a slot on a ready instance, starting one if needed; the caller proxies
// the request to lease.instance.endpoint and then releases the lease with the outcome.

import type http from 'node:http';
import type { LoadCheck } from '../core/ports/load-check.js';
import type { DeployedVersion } from '../core/types.js';
import type { ExitReason, InstanceHandle } from './backends/backend.js';
import type { InstanceRouter, RoutedOutcome } from './instance-router.js';

export type StartKind = 'warm' | 'stem' | 'container';

/**
 * How a call ended, told when its lease is released — which is only once the instance is done with the
 * call (its answer ended or its connection broke), so a released slot never has a handler still on it.
 * 'ok' and 'error' (the call never reached a handler) free the slot; 'timeout' (the answer ended, but
 * past the deadline) frees it and has the instance checked; 'crashed' (the connection broke, or the
 * answer was not valid HTTP) and 'hung' (the handler ran on past its deadline and a grace: its slot is
 * given up without the handler having finished) recycle the instance.
 */
export type LeaseOutcome = 'ok' | 'timeout' | 'crashed' | 'hung' | 'error';

export interface Lease {
  readonly instance: InstanceHandle;
  /** Keep-alive agent bound to this instance's endpoint (unix socket or 127.0.0.1 port). */
  readonly agent: http.Agent;
  /** How the instance serving this request came to be: warm, or a cold start from a stem or a new container. */
  readonly start: StartKind;
  /** What the proxy passes to http.request with `agent`: the instance's unix socket or 127.0.0.1 port. */
  readonly requestOptions: { socketPath: string } | { host: string; port: number };
  /** Set on the request that waited for a cold start: its kind and phase durations in ms (claim/create/init). */
  readonly coldStart?: { kind: Exclude<StartKind, 'warm'>; phases: Record<string, number> };
  /** Return the slot, once the instance is done with the call (see LeaseOutcome). */
  release(outcome: LeaseOutcome): void;
  /** After a failed request: why the instance failed (OOM, exit), or null if it looks alive. */
  diagnose(): Promise<{ reason: ExitReason; exitCode: number | null } | null>;
}

export interface AcquireOptions {
  /** Absolute time (ms since epoch) past which the caller gives up: a queued request is answered 429/504. */
  deadline: number;
  signal?: AbortSignal;
}

export type InstanceState = 'starting' | 'ready' | 'draining' | 'stopping';

export interface InstanceView {
  id: string;
  function: string;
  version: number;
  state: InstanceState;
  inFlight: number;
  concurrency: number;
  startedAt: string;
  lastUsedAt: string | null;
  startKind: Exclude<StartKind, 'warm'>;
}

/** A version whose last starts all failed, in crash-loop backoff (scheduler/crash-backoff.ts). */
export interface FailingView {
  version: number;
  failures: number;
  /** The platform's words for the last failure. */
  lastError: string;
  /** The instance's own last words (e.g. a load error with file:line), when it left any. */
  lastOutput: string | null;
  lastFailureAt: string;
  /** No start before this time; after it, the next call (or minInstances) tries again. */
  nextTryAt: string;
}

/**
 * LoadCheck: the builder's load check is a probe of the Scheduler — one start of a version not yet
 * ready, whose ready instance stays in the version's pool for the rollout and the first call.
 */
export interface Scheduler extends LoadCheck {
  acquire(target: DeployedVersion, opts: AcquireOptions): Promise<Lease>;
  /**
   * The warm path without a promise: a lease on a ready instance with a free slot, or null when the
   * request would have to wait (then call acquire). Optional: a scheduler without it is always asked
   * through acquire.
   */
  tryAcquire?(target: DeployedVersion): Lease | null;
  /** Keep a version's minimum instances warm ahead of demand (called when a version is deployed). */
  prewarm(target: DeployedVersion): Promise<void>;
  /** Drain and remove the instances of a function: all of them, or all but those of the versions in `keep`. */
  retire(functionName: string, keep?: number | ReadonlySet<number>): Promise<void>;
  instances(functionName: string): InstanceView[];
  /** Why the function's current version is failing, or null when it is not. Optional. */
  failing?(functionName: string): FailingView | null;
  /**
   * Give every ready instance to a data plane beside the leases (a native proxy, instance-router.ts) from now
   * on, those ready now included; the router's calls count in the autoscaler's input and hold drains.
   * Optional: a scheduler without it serves every call through acquire().
   */
  attachRouter?(router: InstanceRouter): void;
  /**
   * The proxy handed this call over because every instance it routes for the version was full: count them full
   * until its next read, so the call waits for a slot or a start rather than queueing inside a busy instance.
   */
  routedFull?(target: DeployedVersion): void;
  /** A call the router served ended badly on this instance: judged as a released lease's outcome is. */
  routedOutcome?(instanceId: string, outcome: RoutedOutcome): void;
  /** Adopt or remove instances an earlier run left behind (by backend labels). */
  reconcile(): Promise<void>;
  /** Stop intake, drain in-flight requests, remove every instance. */
  close(): Promise<void>;
}
