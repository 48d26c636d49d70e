// The Store seam: all platform metadata (functions, versions, builds, build logs, invocation records,
// triggers and invoke keys — the last in triggers.ts). Redis in production
// (redis.ts), an in-memory twin for unit tests and for running without Redis (memory.ts). Both must
// behave the same; test/unit/store-contract.test.ts runs one suite against each.

import type { CheckReport } from '../check-report.js';
import type { Clock } from '../lifecycle.js';
import type { BuildRecord, FunctionRecord, LogQuery, LogRecord, VersionRecord } from '../types.js';
import type { InvocationQuery, InvocationRecord, InvocationRetention } from './invocations.js';
import type { SessionLimits, SessionStore } from './sessions.js';
import type { TriggerStore } from './triggers.js';
import type { UsageRange, UsageRow } from './usage.js';

/** Function log lines kept per function; older ones are dropped. */
export const LOG_LINES_KEPT = 5000;

export interface Store extends TriggerStore {
  readonly kind: 'redis' | 'memory';

  getFunction(name: string): Promise<FunctionRecord | null>;
  listFunctions(): Promise<FunctionRecord[]>;
  putFunction(fn: FunctionRecord): Promise<void>;
  /**
   * Changes a function record atomically (compare-and-set): `mutate` gets the stored record (null when there
   * is none) and returns the record to store, or null to leave it as it is. If another caller (or replica)
   * changed the record meanwhile, `mutate` runs again on the new one — so it must not have side effects.
   * Returns what was stored, or null when `mutate` declined.
   */
  updateFunction(name: string, mutate: (fn: FunctionRecord | null) => FunctionRecord | null): Promise<FunctionRecord | null>;
  /** Removes the function with its versions, builds, build logs, function logs, invocation records, triggers (with their fires) and invoke keys. Returns false if it did not exist. */
  deleteFunction(name: string): Promise<boolean>;

  /** Atomically hands out the next version number of a function (1, 2, 3 …; never reused, even after delete). */
  nextVersion(name: string): Promise<number>;
  /**
   * The order of a function's git pushes (services/git/): the next ticket, 1, 2, 3 … for the platform, in
   * the order asked. Kept on delete, like the version counter, so a push in flight across a delete still
   * compares with the ones after it.
   */
  takePushTicket(name: string): Promise<number>;
  /**
   * The function's next version number (as nextVersion) for the push holding `ticket` — unless a push with a
   * later ticket has taken one already: then nothing is taken, and the answer names that push and its
   * version. Check and take are one atomic step, so versions follow the pushes' order across replicas.
   */
  nextVersionInTurn(name: string, ticket: number): Promise<PushTurn>;
  putVersion(v: VersionRecord): Promise<void>;
  getVersion(name: string, version: number): Promise<VersionRecord | null>;
  listVersions(name: string): Promise<VersionRecord[]>;

  putBuild(b: BuildRecord): Promise<void>;
  getBuild(id: string): Promise<BuildRecord | null>;
  /** Builds not yet succeeded or failed: what a restarted platform must pick up again. */
  listUnfinishedBuilds(): Promise<BuildRecord[]>;
  appendBuildLog(id: string, text: string): Promise<void>;
  /** The build log from a byte offset on, so a follower can poll for what is new. */
  readBuildLog(id: string, fromOffset?: number): Promise<{ text: string; nextOffset: number }>;
  /** Keeps (replaces) a build's check report; it goes with the build when its function is deleted. */
  putBuildReport(id: string, report: CheckReport): Promise<void>;
  getBuildReport(id: string): Promise<CheckReport | null>;

  /** Appends a batch of a function's log lines in one write, keeping the newest LOG_LINES_KEPT. */
  appendLogs(fn: string, lines: LogRecord[]): Promise<void>;
  /** A function's log lines matching the query, oldest first (newest last). */
  readLogs(fn: string, opts?: LogQuery): Promise<LogRecord[]>;

  /**
   * Writes a batch of invocation records (any functions) in one round trip, replacing a record of the same
   * id, and drops what falls outside the retention. In the same write each record is metered (usage.ts):
   * a record written again adds nothing.
   */
  appendInvocations(records: InvocationRecord[], retention: InvocationRetention): Promise<void>;
  /** Metered usage per function and UTC hour in the range (kept after a function's delete), by function then hour. */
  readUsage(range: UsageRange): Promise<UsageRow[]>;
  /** A function's kept records matching the query, newest first. */
  listInvocations(fn: string, query?: InvocationQuery): Promise<InvocationRecord[]>;
  getInvocation(id: string): Promise<InvocationRecord | null>;

  /**
   * Subscribe to changes of a function (update, delete, its triggers or invoke keys), from this or another
   * replica. `null` means notices may have been missed (the subscription was re-established): re-read
   * everything you cache. Returns an unsubscribe.
   *
   * Read-your-writes on this replica: a write that announces a change resolves only once this replica's
   * watchers have been told of it and the promises they returned have settled. So whoever writes (the API,
   * a rollout, the builder) answers after every view that follows the notices here (the route cache, the
   * served-versions reconciler) has taken the change in, without knowing of them; other replicas follow
   * on the same notice a moment later. Hence a watcher's promise must never wait for a write of this
   * store: that write would wait for it in turn.
   */
  watchFunctions(onChange: (name: string | null) => unknown): () => void;

  /**
   * The dashboard's sessions, kept where this store keeps its state (sessions.ts): in Redis, shared by every
   * replica, on this store's connection; in memory, this process's. Closed by its caller, before the store.
   */
  sessions(clock: Clock, limits?: SessionLimits): SessionStore;

  close(): Promise<void>;
}

/** nextVersionInTurn's answer: the version taken, or the later push that took one first (and its version). */
export type PushTurn = { version: number } | { passedBy: number; version: number };

/** The query applied to one function's kept lines (oldest first), the same way by every store. */
export function selectLogs(lines: LogRecord[], opts: LogQuery = {}): LogRecord[] {
  const { requestId, since, limit } = opts;
  const matching = requestId === undefined && since === undefined ? lines : lines.filter((l) => (requestId === undefined || l.requestId === requestId) && (since === undefined || l.time > since));
  return limit === undefined || matching.length <= limit ? matching : matching.slice(matching.length - limit);
}
