// The seam that makes N replicas one platform: which instances exist (any replica may route to any ready
// one), the starts under way (so maxInstances and a burst's starts count platform-wide), what each replica
// is serving (so one leader scales from everybody's concurrency, as Knative's autoscaler aggregates its
// activators'), and who the leader is. Implementations side by side: LocalDirectory (one process: the
// memory store or the process backend — nothing to share, this replica decides everything) and
// RedisDirectory (redis-directory.ts). The data plane never waits on it: a warm call reads only the
// scheduler's in-memory mirror of it.

import { randomBytes } from 'node:crypto';
import type { Runtime } from '../../core/types.js';
import type { Endpoint, InstanceHandle } from '../backends/backend.js';
import { Instance } from '../instance.js';
import type { StartKind } from '../scheduler.js';

/** One instance as every replica knows it. */
export interface SharedInstance {
  id: string;
  function: string;
  version: number;
  runtime: Runtime | null;
  endpoint: Endpoint;
  /** The backend's own id (container id, pod), for operators. */
  backendRef: string;
  concurrency: number;
  startKind: Exclude<StartKind, 'warm'>;
  startedAt: number;
  /** Draining: no replica sends it new calls; the leader stops it once none has a call on it. */
  draining: boolean;
  /** The replica that started it (for people reading the dashboard; nothing depends on it). */
  replica: string;
}

export type DirectoryChange =
  | { op: 'up'; instance: SharedInstance }
  | { op: 'drain'; function: string; version: number; id: string }
  | { op: 'down'; function: string; version: number; id: string }
  /** The notices since the last one may be lost (the subscription reconnected): re-read list(). */
  | { op: 'resync' };

/** What one replica tells the others each tick: its demand per version and the instances it may still call. */
export interface ReplicaReport {
  replica: string;
  /** Epoch ms on the reporting replica's clock when it was made. */
  at: number;
  /** `fn@version` -> concurrency seen here (in flight + waiting) and the last request's time. */
  versions: Record<string, { concurrency: number; lastRequestAt: number | null }>;
  /** Instances this replica may still send a call to (ready here) or has a call on. */
  routable: string[];
}

export interface InstanceDirectory {
  /** True when several replicas share it: instances outlive this replica and only the leader stops them. */
  readonly shared: boolean;
  /** This replica's name among the others (also in its stems' ids). */
  readonly replica: string;
  /**
   * Reserve one start of `fn@version`: granted while the platform's ready (not draining) and starting
   * instances of it are below min(want, max). Returns a ticket to pass to publish() or cancel(), or null.
   */
  reserveStart(fn: string, version: number, want: number, max: number, ttlMs: number): Promise<string | null>;
  /** A reserved start failed: its place is free again. */
  cancelStart(fn: string, version: number, ticket: string): Promise<void>;
  /** An instance this replica started is ready: every replica may route to it (the ticket's reservation ends). */
  publish(instance: SharedInstance, ticket: string | null): Promise<void>;
  /** No replica sends it new calls from now on. */
  drain(fn: string, version: number, id: string): Promise<void>;
  /** It is gone (stopped, exited). */
  remove(fn: string, version: number, id: string): Promise<void>;
  list(): Promise<SharedInstance[]>;
  /** Told of every change another replica (or this one) makes. Returns an unsubscribe. */
  onChange(listener: (change: DirectoryChange) => void): () => void;
  report(report: ReplicaReport): Promise<void>;
  /** Every replica's last report (this one's included), the stale ones too: the caller judges their age. */
  reports(): Promise<ReplicaReport[]>;
  /** Drop a replica's report (it has been silent too long, or it stopped). */
  forgetReplica(replica: string): Promise<void>;
  /** Take or keep the leader's lease; true while this replica holds it. */
  lead(ttlMs: number): Promise<boolean>;
  /** Give the lease up now (a clean stop), so another replica leads without waiting for it to expire. */
  resign(): Promise<void>;
  close(): Promise<void>;
}

/** One process is the whole platform: every start is granted, nothing is told, this replica always leads. */
export class LocalDirectory implements InstanceDirectory {
  readonly shared = false;
  #tickets = 0;

  constructor(readonly replica: string) {}

  async reserveStart(): Promise<string | null> {
    return `local-${++this.#tickets}`;
  }
  async cancelStart(): Promise<void> {}
  async publish(): Promise<void> {}
  async drain(): Promise<void> {}
  async remove(): Promise<void> {}
  async list(): Promise<SharedInstance[]> {
    return [];
  }
  onChange(): () => void {
    return () => {};
  }
  async report(): Promise<void> {}
  async reports(): Promise<ReplicaReport[]> {
    return [];
  }
  async forgetReplica(): Promise<void> {}
  async lead(): Promise<boolean> {
    return true;
  }
  async resign(): Promise<void> {}
  async close(): Promise<void> {}
}

/** A short random name for a replica: it goes into stem ids, which must stay short (instance-dir.ts). */
export function newReplicaName(): string {
  return randomBytes(4).toString('hex');
}

/**
 * The platform has as many instances of the version as were asked for (ready or starting, on any replica):
 * this start is not needed. Not a failure: it counts in no backoff and fails no waiter.
 */
export class StartNotNeeded extends Error {
  constructor() {
    super('enough instances are running or starting on the platform');
  }
}

/** What a replica routes with, for an instance another replica started. */
export function instanceOf(rec: SharedInstance): Instance {
  const handle: InstanceHandle = { instanceId: rec.id, role: 'function', runtime: rec.runtime, function: rec.function, version: rec.version, endpoint: rec.endpoint, backendRef: rec.backendRef, startedAt: rec.startedAt };
  return new Instance(handle, rec.concurrency, rec.startKind, rec.draining ? 'draining' : 'ready');
}

/** How every replica will know a ready instance of `fn@version` this replica started or took in. */
export function recordOf(inst: Instance, fn: string, version: number, replica: string): SharedInstance {
  const h = inst.handle;
  return { id: inst.id, function: fn, version, runtime: h.runtime, endpoint: h.endpoint, backendRef: h.backendRef, concurrency: inst.concurrency, startKind: inst.startKind, startedAt: h.startedAt, draining: false, replica };
}

/** The replica a stem belongs to: stem ids are stem-RUNTIME-REPLICA-RANDOM (stem-pool.ts). */
export function stemReplica(stemId: string): string | null {
  const m = /^stem-[a-z0-9]+-([a-f0-9]{8})-[a-f0-9]+$/.exec(stemId);
  return m ? m[1]! : null;
}
