// One running instance as the scheduler sees it: the backend handle plus dispatch state (in-flight
// count, drain flag) and the keep-alive agent every request to it reuses.

import http from 'node:http';
import type { Endpoint, InstanceHandle } from './backends/backend.js';
import { PinnedSocketAgent } from './backends/socket-dir.js';
import type { InstanceState, InstanceView, Lease, StartKind } from './scheduler.js';

export type RequestOptions = Lease['requestOptions'];

export function requestOptionsFor(endpoint: Endpoint): RequestOptions {
  // Only unix sockets or loopback ports: never a bridge address (runtime-images/README.md, the runtime protocol).
  return endpoint.kind === 'unix' ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port };
}

export class Instance {
  state: InstanceState;
  inFlight = 0;
  lastUsedAt: number | null = null;
  /**
   * Given to the scheduler's InstanceRouter (a native proxy) and not let go of yet: the proxy may have calls
   * on it that this count does not see, so the instance is not idle — a drain waits for the router.
   */
  routed = false;
  /** The router was asked to let it go and has not said it did yet. */
  unrouting = false;
  /** Calls the router had on it when last read (the autoscaler's input; the dashboard shows them in inFlight). */
  proxied = 0;
  readonly agent: http.Agent;
  readonly requestOptions: RequestOptions;

  constructor(
    readonly handle: InstanceHandle,
    readonly concurrency: number,
    readonly startKind: Exclude<StartKind, 'warm'>,
    state: InstanceState = 'ready',
  ) {
    this.state = state;
    // One agent per instance so sockets are reused across requests and go away with the instance.
    // lifo: the most recently used socket is reused first, so a light load keeps a few hot sockets
    // instead of rotating through every one a burst opened (those then expire on the runtime's side).
    // noDelay matters for a tcp endpoint only: a small response must not wait for Nagle.
    // A sealed unix socket is dialled only while it is still the one the instance bound (backends/socket-dir.ts).
    const opts: http.AgentOptions = { keepAlive: true, maxSockets: Math.max(concurrency, 1) * 2, scheduling: 'lifo', noDelay: true };
    const ep = handle.endpoint;
    this.agent = ep.kind === 'unix' && ep.pin ? new PinnedSocketAgent(ep.socketPath, ep.pin, opts) : new http.Agent(opts);
    this.requestOptions = requestOptionsFor(handle.endpoint);
  }

  get id(): string {
    return this.handle.instanceId;
  }

  /** No call on it from this process, and no proxy that may still send it one: a draining instance may go. */
  get idle(): boolean {
    return this.inFlight === 0 && !this.routed;
  }

  /** A slot no call holds, this process's or (as last read, or as the proxy said when it overflowed) the proxy's. */
  get hasFreeSlot(): boolean {
    return this.state === 'ready' && this.inFlight + this.proxied < this.concurrency;
  }

  view(): InstanceView {
    return {
      id: this.id,
      function: this.handle.function ?? '',
      version: this.handle.version ?? 0,
      state: this.state,
      inFlight: this.inFlight + this.proxied,
      concurrency: this.concurrency,
      startedAt: new Date(this.handle.startedAt).toISOString(),
      lastUsedAt: this.lastUsedAt === null ? null : new Date(this.lastUsedAt).toISOString(),
      startKind: this.startKind,
    };
  }

  dispose(): void {
    this.agent.destroy();
  }
}
