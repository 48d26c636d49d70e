// The native data plane's controller: it keeps HAProxy (haproxy-config.ts) programmed from what Stratus
// decides, and turns what HAProxy did back into the platform's accounting. It decides nothing itself.
//
//   scheduler → here   ready instances (InstanceRouter.route) become servers of their version's slot; an
//                      instance leaving is put in maintenance, and let go of once HAProxy has no connection on
//                      it (del server succeeds only then), so a drain never cuts a call (scheduler/instance-router.ts)
//   routes → here      a function whose `latest` is one version with a public URL (no keys, methods or CORS:
//                      those stay on the activator) is mapped NAME → its version's slot while that slot has a
//                      server; anything else (aliases, canary splits, @vN, async, cold) goes to the activator
//   HAProxy → here     its per-call lines (call-lines.ts) become invocation records and metrics (call-records.ts);
//                      its live connection counts (show stat) are the calls it has on each instance — the
//                      autoscaler's input; a call it saw time out or break is told to the scheduler
//
// Every command goes through one queue, in order, so a route never names a server added after it. HAProxy
// loses all of this on a restart: replay() programs it again from what is held here.

import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { InvocationMetrics } from '../../core/ports/metrics.js';
import { HANDLER_GRACE_MS } from '../../core/invocation-contract.js';
import type { InvocationRecordSink } from '../../control/invocations/invocation-records.js';
import type { InstanceRouter, RoutedInstance, RoutedOutcome } from '../../scheduler/instance-router.js';
import { PUBLIC_POLICY } from '../dataplane/http-policy.js';
import type { Route } from '../dataplane/route-table.js';
import { accountCall, type ServedBy } from './call-records.js';
import type { CallLine } from './call-lines.js';
import { HaproxyCommandError, HaproxyUnreachableError, type HaproxyRuntime } from './haproxy-runtime.js';
import { slotName } from './haproxy-config.js';

/** A server of a slot: one instance, as HAProxy knows it. */
interface Server extends ServedBy {
  id: string;
  key: string;
  slot: string;
  socketPath: string;
  concurrency: number;
  timeoutMs: number;
  leaving: boolean;
}

export interface NativePlaneDeps {
  runtime: Pick<HaproxyRuntime, 'addServer' | 'setServerState' | 'deleteServer' | 'setMapEntry' | 'deleteMapEntry' | 'showStat'>;
  /** The map files the config loads (nativeProxyFiles). */
  maps: { routes: string; timeouts: string };
  slots: number;
  /** Where a call HAProxy saw end badly is judged (Scheduler.routedOutcome). */
  outcome(instanceId: string, outcome: RoutedOutcome): void;
  records: Pick<InvocationRecordSink, 'record'>;
  metrics: Pick<InvocationMetrics, 'invocations' | 'invocationSeconds'>;
  clock: Clock;
  logger: Logger;
  /** How often HAProxy's connection counts are read (the autoscaler's input), ms. */
  pollMs?: number;
  /** How often a leaving server's deletion is tried while it still has connections, ms. */
  releasePollMs?: number;
}

const GONE_KEPT_MS = 10 * 60_000;

export class NativePlane implements InstanceRouter {
  readonly #servers = new Map<string, Server>();
  /** Servers let go of, kept a while: a call's line may arrive after its server was deleted. */
  readonly #gone = new Map<string, { server: Server; at: number }>();
  readonly #slotOf = new Map<string, string>();
  readonly #free: string[];
  /** Function → the version its plain URL serves, for functions the native path may serve. */
  readonly #wanted = new Map<string, number>();
  /** Function → slot, as HAProxy's routes map holds it. */
  readonly #mapped = new Map<string, string>();
  #inFlight: ReadonlyMap<string, number> = new Map();
  readonly #loadListeners: Array<() => void> = [];
  readonly #lastCalls = new Map<string, number>();
  #queue: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  /** Lines of calls no server known here took (a slot being reassigned, a restart): counted, not recorded. */
  unattributed = 0;

  constructor(private readonly d: NativePlaneDeps) {
    this.#free = Array.from({ length: d.slots }, (_, i) => slotName(d.slots - 1 - i));
  }

  /** Starts reading HAProxy's connection counts. */
  start(): void {
    const poll = () => {
      void this.#poll().finally(() => {
        if (!this.#closed) this.#timer = setTimeout(poll, this.d.pollMs ?? 250);
      });
    };
    poll();
  }

  // ---- InstanceRouter (the scheduler's side) ----

  route(i: RoutedInstance): void {
    if (this.#closed || this.#servers.has(i.id)) return;
    // HAProxy dials a path: only a sealed and pinned socket (scheduler/backends/socket-dir.ts), whose path the
    // function can no longer swap, or a loopback port. Anything else keeps to the Node path's pinned agent.
    const ep = i.endpoint;
    if (ep.kind !== 'unix' || ep.pin === undefined) {
      this.d.logger.debug('not served natively: its socket is not sealed and pinned', { instance: i.id });
      return;
    }
    const key = `${i.function}@${i.version}`;
    let slot = this.#slotOf.get(key);
    if (slot === undefined) {
      slot = this.#free.pop();
      if (slot === undefined) {
        this.d.logger.warn(`every native slot is in use (STRATUS_NATIVE_SLOTS=${this.d.slots}); ${key} is served through Stratus`, { instance: i.id });
        return;
      }
      this.#slotOf.set(key, slot);
    }
    const server: Server = { id: i.id, key, slot, function: i.function, version: i.version, memoryMb: i.memoryMb, timeoutMs: i.timeoutMs, socketPath: ep.socketPath, concurrency: i.concurrency, leaving: false };
    this.#servers.set(i.id, server);
    this.#run(async () => {
      await this.#program(server);
      await this.#syncRoute(i.function);
    });
  }

  unroute(id: string, released: () => void): void {
    const server = this.#servers.get(id);
    if (!server) return void setImmediate(released);
    server.leaving = true;
    // No new call from now: out of the route (if it was the last server) and in maintenance.
    this.#run(async () => {
      await this.#syncRoute(server.function);
      await this.d.runtime.setServerState(server.slot, server.id, 'maint');
    });
    const until = this.d.clock.now() + server.timeoutMs + HANDLER_GRACE_MS + 2000;
    const attempt = () =>
      this.#run(async () => {
        if (!this.#servers.has(id)) return true;
        try {
          await this.d.runtime.deleteServer(server.slot, server.id);
          return true;
        } catch (err) {
          if (err instanceof HaproxyCommandError && /no such server/i.test(err.reply)) return true; // never added (or already gone)
          if (err instanceof HaproxyCommandError && this.d.clock.now() < until) return false; // a call or kept connection is still on it
          if (!(err instanceof HaproxyUnreachableError)) this.d.logger.warn('HAProxy still had a connection on an instance past its timeout; letting it go', { instance: id, err });
          return true; // HAProxy is gone, and its calls with it
        }
      }, false);
    const tryRelease = (): void => {
      void attempt().then((done) => {
        if (!done && !this.#closed) return void setTimeout(tryRelease, this.d.releasePollMs ?? 50);
        this.#forget(server);
        released();
      });
    };
    tryRelease();
  }

  inFlight(): ReadonlyMap<string, number> {
    return this.#inFlight;
  }

  lastCalls(): ReadonlyMap<string, number> {
    return this.#lastCalls;
  }

  onLoad(listener: () => void): void {
    this.#loadListeners.push(listener);
  }

  // ---- the route table's side ----

  /** A function's route changed (RouteTable.onRoute): map it to its version's slot, or hand it to the activator. */
  onRoute(name: string, route: Route | undefined): Promise<void> {
    if (route !== undefined && route.single && route.policy === PUBLIC_POLICY) this.#wanted.set(name, route.target.version);
    else this.#wanted.delete(name);
    return this.#run(() => this.#syncRoute(name));
  }

  // ---- HAProxy's side ----

  /** One call HAProxy logged (CallLineReader's onLine). Calls the activator took are Stratus's own to record. */
  onLine(line: CallLine): void {
    if (!line.backend.startsWith('slot')) return;
    const now = this.d.clock.now();
    const server = line.server === null ? this.#serverOfSlot(line.backend) : (this.#servers.get(line.server) ?? this.#gone.get(line.server)?.server);
    if (server === undefined) {
      this.unattributed++;
      return;
    }
    const call = accountCall(line, server, now);
    this.d.records.record(call.record);
    const labels = { function: server.function, status: call.status };
    this.d.metrics.invocations.inc(labels);
    this.d.metrics.invocationSeconds.observe(labels, call.record.durationMs / 1000);
    this.#lastCalls.set(server.key, now);
    if (call.instance !== null && line.server !== null && this.#servers.has(line.server)) this.d.outcome(line.server, call.instance);
  }

  /** HAProxy restarted with nothing programmed: every server, timeout and route again. */
  replay(): Promise<void> {
    this.#mapped.clear();
    for (const server of this.#servers.values()) {
      if (server.leaving) continue; // gone with the old process; its unroute finishes on its own
      this.#run(() => this.#program(server));
    }
    for (const name of this.#wanted.keys()) this.#run(() => this.#syncRoute(name));
    return this.#run(async () => {});
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#queue;
  }

  // ---- internals ----

  async #program(server: Server): Promise<void> {
    await this.d.runtime.setMapEntry(this.d.maps.timeouts, server.slot, String(server.timeoutMs));
    await this.d.runtime.addServer(server.slot, server.id, { socketPath: server.socketPath, maxconn: server.concurrency });
  }

  /** The routes map entry of a function: its wanted version's slot while that slot has a server taking calls. */
  async #syncRoute(name: string): Promise<void> {
    const version = this.#wanted.get(name);
    const slot = version === undefined ? undefined : this.#slotOf.get(`${name}@${version}`);
    const serving = slot !== undefined && [...this.#servers.values()].some((s) => s.slot === slot && !s.leaving);
    const want = serving ? slot : undefined;
    if (this.#mapped.get(name) === want) return;
    if (want === undefined) {
      await this.d.runtime.deleteMapEntry(this.d.maps.routes, name);
      this.#mapped.delete(name);
    } else {
      await this.d.runtime.setMapEntry(this.d.maps.routes, name, want);
      this.#mapped.set(name, want);
    }
  }

  #serverOfSlot(slot: string): Server | undefined {
    for (const s of this.#servers.values()) if (s.slot === slot) return s;
    return undefined;
  }

  #forget(server: Server): void {
    if (this.#servers.get(server.id) !== server) return;
    this.#servers.delete(server.id);
    const now = this.d.clock.now();
    this.#gone.set(server.id, { server, at: now });
    for (const [id, g] of this.#gone) if (now - g.at > GONE_KEPT_MS) this.#gone.delete(id);
    // The slot is free once no server is in it (its route went when its last server began to leave).
    if (![...this.#servers.values()].some((s) => s.slot === server.slot)) {
      this.#slotOf.delete(server.key);
      this.#free.push(server.slot);
    }
  }

  async #poll(): Promise<void> {
    try {
      const rows = await this.d.runtime.showStat();
      const counts = new Map<string, number>();
      for (const r of rows) {
        if (!r.pxname?.startsWith('slot') || r.svname === 'BACKEND' || r.svname === undefined) continue;
        const n = Number(r.scur);
        if (this.#servers.has(r.svname) && n > 0) counts.set(r.svname, n);
      }
      this.#inFlight = counts;
      for (const l of this.#loadListeners) l();
    } catch (err) {
      // HAProxy away (restarting): nothing is in flight through it.
      this.#inFlight = new Map();
      if (!(err instanceof HaproxyUnreachableError)) this.d.logger.warn('could not read HAProxy\'s connection counts', { err });
    }
  }

  /** Runs `step` after every command queued before it; a failure is logged (and `fallback` returned), never thrown. */
  #run<T = void>(step: () => Promise<T>, fallback?: T): Promise<T> {
    const p = this.#queue.then(step).catch((err: unknown) => {
      if (!this.#closed) this.d.logger.warn('programming HAProxy failed', { err });
      return fallback as T;
    });
    this.#queue = p.then(() => undefined);
    return p;
  }
}
