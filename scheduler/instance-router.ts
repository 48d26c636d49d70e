// The seam between the scheduler and a data plane beside its own leases: a native proxy (gateway/native/)
// that sends warm calls straight to instances. The scheduler stays the only one that decides which
// instances exist and which may take calls; the router is told, and tells back only what it saw — the
// calls it has on each instance (the autoscaler's input, as Knative's activators report theirs) and how
// calls it served ended badly (a timeout, an instance that broke the connection), for the scheduler to
// judge as it judges its own leases.
//
// The one rule that keeps calls from failing across a drain: an instance the router was given stays in
// its pool (counted busy) until the router has let it go — it takes no new call through the proxy and has
// none left on it. Only then may the pool stop it (version-pool.ts, Instance.routed).

import type { Endpoint } from './backends/backend.js';

/** A ready instance the router may send calls to. */
export interface RoutedInstance {
  id: string;
  function: string;
  version: number;
  endpoint: Endpoint;
  /** Calls at once the instance takes (the proxy's maxconn for it). */
  concurrency: number;
  /** The version's memory and timeout: what a call's record bills and how long the proxy waits for an answer. */
  memoryMb: number;
  timeoutMs: number;
}

export interface InstanceRouter {
  /** The instance is ready: calls may be routed to it. */
  route(instance: RoutedInstance): void;
  /**
   * Route no new call to it; call `released` (once, never synchronously) when no call routed through here is
   * on it any more — or when the router cannot tell (the proxy is gone: its calls are gone too).
   */
  unroute(id: string, released: () => void): void;
  /** Calls the router has on each instance now (instance id -> calls), as last read. */
  inFlight(): ReadonlyMap<string, number>;
  /** When each version (`fn@version`) last had a call through the router, epoch ms. */
  lastCalls(): ReadonlyMap<string, number>;
  /** Told after each fresh read of inFlight(): a slot the proxy freed may serve a call waiting here. */
  onLoad(listener: () => void): void;
}

/** How a call the router served ended badly, judged by the scheduler as a lease's outcome is. */
export type RoutedOutcome = 'timeout' | 'crashed';
