// In-memory Store: for unit tests, and for running Stratus without Redis (state is lost on restart).

import type { CheckReport } from '../check-report.js';
import { Closeable, type Clock } from '../lifecycle.js';
import type { BuildRecord, FunctionRecord, LogQuery, LogRecord, VersionRecord } from '../types.js';
import { TERMINAL_BUILD_STATUSES } from '../types.js';
import { LOG_LINES_KEPT, selectLogs, type PushTurn, type Store } from './store.js';
import { selectInvocations, type InvocationQuery, type InvocationRecord, type InvocationRetention } from './invocations.js';
import { MemoryTriggers } from './memory-triggers.js';
import { MemoryUsage } from './usage-memory.js';
import { MemorySessions } from './sessions-memory.js';
import type { SessionLimits, SessionStore } from './sessions.js';
import type { UsageRange, UsageRow } from './usage.js';

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryStore extends Closeable implements Store {
  readonly kind = 'memory' as const;
  readonly #functions = new Map<string, FunctionRecord>();
  readonly #versions = new Map<string, Map<number, VersionRecord>>();
  readonly #counters = new Map<string, number>();
  /** Per function: the last push ticket handed out, and the latest ticket that took a version (with it). */
  readonly #pushTurns = new Map<string, { issued: number; deployed: number; version: number }>();
  readonly #builds = new Map<string, BuildRecord>();
  readonly #logs = new Map<string, string>();
  readonly #reports = new Map<string, CheckReport>();
  readonly #functionLogs = new Map<string, LogRecord[]>();
  /** Per function: id -> record, in insertion order (a replaced record moves to the end). */
  readonly #invocations = new Map<string, Map<string, InvocationRecord>>();
  /** Metered usage: kept when a function is deleted, as a bill keeps it. */
  readonly #usage = new MemoryUsage();
  readonly #watchers = new Set<(name: string | null) => unknown>();
  readonly #triggers = new MemoryTriggers((fn) => this.#functions.has(fn), (fn) => this.#notify(fn));

  // Triggers, fires, leases and invoke keys (TriggerStore): memory-triggers.ts.
  readonly createTrigger = this.#triggers.createTrigger.bind(this.#triggers);
  readonly putTrigger = this.#triggers.putTrigger.bind(this.#triggers);
  readonly replaceTriggers = this.#triggers.replaceTriggers.bind(this.#triggers);
  readonly deleteTrigger = this.#triggers.deleteTrigger.bind(this.#triggers);
  readonly listTriggers = this.#triggers.listTriggers.bind(this.#triggers);
  readonly recordTriggerFire = this.#triggers.recordTriggerFire.bind(this.#triggers);
  readonly listTriggerFires = this.#triggers.listTriggerFires.bind(this.#triggers);
  readonly claimLease = this.#triggers.claimLease.bind(this.#triggers);
  readonly putInvokeKey = this.#triggers.putInvokeKey.bind(this.#triggers);
  readonly listInvokeKeys = this.#triggers.listInvokeKeys.bind(this.#triggers);
  readonly deleteInvokeKey = this.#triggers.deleteInvokeKey.bind(this.#triggers);

  async getFunction(name: string): Promise<FunctionRecord | null> {
    const fn = this.#functions.get(name);
    return fn ? clone(fn) : null;
  }

  async listFunctions(): Promise<FunctionRecord[]> {
    return [...this.#functions.values()].sort((a, b) => a.name.localeCompare(b.name)).map(clone);
  }

  async putFunction(fn: FunctionRecord): Promise<void> {
    this.#functions.set(fn.name, clone(fn));
    await this.#notify(fn.name);
  }

  async updateFunction(name: string, mutate: (fn: FunctionRecord | null) => FunctionRecord | null): Promise<FunctionRecord | null> {
    // No await between the read and the write: nothing else runs in between.
    const current = this.#functions.get(name);
    const next = mutate(current ? clone(current) : null);
    if (next === null) return null;
    this.#functions.set(name, clone(next));
    await this.#notify(name);
    return clone(next);
  }

  async deleteFunction(name: string): Promise<boolean> {
    const existed = this.#functions.delete(name);
    this.#versions.delete(name);
    this.#functionLogs.delete(name);
    this.#invocations.delete(name);
    this.#triggers.forget(name);
    for (const [id, b] of this.#builds) {
      if (b.function === name) {
        this.#builds.delete(id);
        this.#logs.delete(id);
        this.#reports.delete(id);
      }
    }
    if (existed) await this.#notify(name);
    return existed;
  }

  async nextVersion(name: string): Promise<number> {
    return this.#nextVersion(name);
  }

  #nextVersion(name: string): number {
    const next = (this.#counters.get(name) ?? 0) + 1;
    this.#counters.set(name, next);
    return next;
  }

  async takePushTicket(name: string): Promise<number> {
    const turns = this.#turnsOf(name);
    return ++turns.issued;
  }

  async nextVersionInTurn(name: string, ticket: number): Promise<PushTurn> {
    const turns = this.#turnsOf(name);
    if (turns.deployed > ticket) return { passedBy: turns.deployed, version: turns.version };
    // No await between the check and the take: one step, as the Redis store's script.
    const version = this.#nextVersion(name);
    Object.assign(turns, { deployed: ticket, version });
    return { version };
  }

  #turnsOf(name: string): { issued: number; deployed: number; version: number } {
    let turns = this.#pushTurns.get(name);
    if (!turns) this.#pushTurns.set(name, (turns = { issued: 0, deployed: 0, version: 0 }));
    return turns;
  }

  async putVersion(v: VersionRecord): Promise<void> {
    let byNumber = this.#versions.get(v.function);
    if (!byNumber) this.#versions.set(v.function, (byNumber = new Map()));
    byNumber.set(v.version, clone(v));
  }

  async getVersion(name: string, version: number): Promise<VersionRecord | null> {
    const v = this.#versions.get(name)?.get(version);
    return v ? clone(v) : null;
  }

  async listVersions(name: string): Promise<VersionRecord[]> {
    return [...(this.#versions.get(name)?.values() ?? [])].sort((a, b) => a.version - b.version).map(clone);
  }

  async putBuild(b: BuildRecord): Promise<void> {
    this.#builds.set(b.id, clone(b));
  }

  async getBuild(id: string): Promise<BuildRecord | null> {
    const b = this.#builds.get(id);
    return b ? clone(b) : null;
  }

  async listUnfinishedBuilds(): Promise<BuildRecord[]> {
    return [...this.#builds.values()].filter((b) => !TERMINAL_BUILD_STATUSES.includes(b.status)).map(clone);
  }

  async appendBuildLog(id: string, text: string): Promise<void> {
    this.#logs.set(id, (this.#logs.get(id) ?? '') + text);
  }

  async readBuildLog(id: string, fromOffset = 0): Promise<{ text: string; nextOffset: number }> {
    const buf = Buffer.from(this.#logs.get(id) ?? '', 'utf8');
    const start = Math.min(fromOffset, buf.length);
    return { text: buf.subarray(start).toString('utf8'), nextOffset: buf.length };
  }

  async putBuildReport(id: string, report: CheckReport): Promise<void> {
    this.#reports.set(id, clone(report));
  }

  async getBuildReport(id: string): Promise<CheckReport | null> {
    const r = this.#reports.get(id);
    return r ? clone(r) : null;
  }

  async appendLogs(fn: string, lines: LogRecord[]): Promise<void> {
    if (lines.length === 0) return;
    let kept = this.#functionLogs.get(fn);
    if (!kept) this.#functionLogs.set(fn, (kept = []));
    for (const l of lines) kept.push({ ...l });
    if (kept.length > LOG_LINES_KEPT) kept.splice(0, kept.length - LOG_LINES_KEPT);
  }

  async readLogs(fn: string, opts?: LogQuery): Promise<LogRecord[]> {
    return selectLogs(this.#functionLogs.get(fn) ?? [], opts).map((l) => ({ ...l }));
  }

  async appendInvocations(records: InvocationRecord[], retention: InvocationRetention): Promise<void> {
    const oldest = new Date(Date.now() - retention.maxAgeMs).toISOString();
    this.#usage.add(records, retention, Date.now());
    for (const r of records) {
      let kept = this.#invocations.get(r.function);
      if (!kept) this.#invocations.set(r.function, (kept = new Map()));
      kept.delete(r.id);
      kept.set(r.id, { ...r });
    }
    for (const fn of new Set(records.map((r) => r.function))) {
      const kept = this.#invocations.get(fn)!;
      const byStart = [...kept.values()].sort((a, b) => (a.start < b.start ? 1 : -1));
      for (const [i, r] of byStart.entries()) if (i >= retention.maxPerFunction || r.start < oldest) kept.delete(r.id);
    }
  }

  async listInvocations(fn: string, query?: InvocationQuery): Promise<InvocationRecord[]> {
    return selectInvocations([...(this.#invocations.get(fn)?.values() ?? [])], query).map((r) => ({ ...r }));
  }

  async readUsage(range: UsageRange): Promise<UsageRow[]> {
    return this.#usage.read(range);
  }

  async getInvocation(id: string): Promise<InvocationRecord | null> {
    for (const kept of this.#invocations.values()) {
      const r = kept.get(id);
      if (r) return { ...r };
    }
    return null;
  }

  watchFunctions(onChange: (name: string | null) => unknown): () => void {
    this.#watchers.add(onChange);
    return () => this.#watchers.delete(onChange);
  }

  sessions(clock: Clock, limits?: SessionLimits): SessionStore {
    return new MemorySessions(clock, limits);
  }

  /** Tells every watcher (each a microtask later, never inside the write) and waits for what they return. */
  async #notify(name: string): Promise<void> {
    await Promise.allSettled([...this.#watchers].map((w) => Promise.resolve().then(() => w(name))));
  }

  protected async doClose(): Promise<void> {
    this.#watchers.clear();
  }
}
