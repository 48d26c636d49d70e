// The error-rate watch behind automatic rollback. It sees every invocation record as it is emitted (a sink
// beside the record writer: no store read, no I/O on the invoke path) and counts, per function and
// version, the calls and the failed ones (5xx answers, crashes and timeouts) of the last window, in
// one-second buckets. When a version's rate over at least `minRequests` calls passes the threshold, it
// reports it once per window and, if that version is a canary in some alias or the fresh rollout of
// `latest`, rolls it back (ReleaseService). Each replica watches the calls it served; the rollback itself
// is a compare-and-set, so two replicas deciding at once move the alias once.

import { LATEST, aliasVersions } from '../../core/aliases.js';
import { Closeable, type Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { InvocationRecord } from '../../core/store/invocations.js';
import type { Store } from '../../core/store/store.js';
import type { FunctionRecord } from '../../core/types.js';
import type { InvocationRecordSink } from '../invocations/invocation-records.js';
import type { Notifier } from '../../core/ports/notifier.js';
import type { ReleaseService } from './release-service.js';

export interface ErrorWatchSettings {
  /** Failed share of calls (0–1) at which a version is rolled back. */
  errorRate: number;
  minRequests: number;
  windowMs: number;
  /** How long after a rollout of latest its version is watched. */
  watchMs: number;
}

export interface ErrorWatchDeps {
  store: Pick<Store, 'getFunction'>;
  releases: Pick<ReleaseService, 'rollback' | 'endCanary'>;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  settings: ErrorWatchSettings;
}

/** Keys watched at once: a flood of versions must not grow memory without end. */
const MAX_WATCHED = 10_000;

interface Window {
  /** Calls and failures per second, a ring of windowMs / 1000 buckets. */
  calls: Uint32Array;
  failed: Uint32Array;
  /** The second each bucket holds. */
  second: Float64Array;
  /** Until when this version is not judged again (after a report). */
  quietUntil: number;
}

/** A call that counts as an error: the function's 5xx, the platform's 502/504 for a crash or a timeout. */
const isError = (r: InvocationRecord) => r.statusCode >= 500;

export class ErrorWatch extends Closeable implements InvocationRecordSink {
  readonly #windows = new Map<string, Window>();
  readonly #buckets: number;
  readonly #acting = new Set<Promise<void>>();

  constructor(private readonly deps: ErrorWatchDeps) {
    super();
    this.#buckets = Math.max(1, Math.ceil(deps.settings.windowMs / 1000));
  }

  record(r: InvocationRecord): void {
    if (this.closed) return;
    const key = `${r.function}@${r.version}`;
    let w = this.#windows.get(key);
    if (!w) {
      if (this.#windows.size >= MAX_WATCHED) this.#windows.clear();
      const n = this.#buckets;
      w = { calls: new Uint32Array(n), failed: new Uint32Array(n), second: new Float64Array(n).fill(-1), quietUntil: 0 };
      this.#windows.set(key, w);
    }
    const now = this.deps.clock.now();
    const second = Math.floor(now / 1000);
    const i = second % this.#buckets;
    if (w.second[i] !== second) {
      w.second[i] = second;
      w.calls[i] = 0;
      w.failed[i] = 0;
    }
    w.calls[i]! += 1;
    if (isError(r)) w.failed[i]! += 1;
    else return; // only a failure can push the rate over the threshold
    if (now < w.quietUntil) return;
    let calls = 0;
    let failed = 0;
    const oldest = second - this.#buckets + 1;
    for (let b = 0; b < this.#buckets; b++) {
      if (w.second[b]! < oldest) continue;
      calls += w.calls[b]!;
      failed += w.failed[b]!;
    }
    const { minRequests, errorRate, windowMs } = this.deps.settings;
    if (calls < minRequests || failed / calls < errorRate) return;
    w.quietUntil = now + windowMs;
    this.#act(this.#judge(r.function, r.version, failed / calls, calls));
  }

  async #judge(fn: string, version: number, rate: number, calls: number): Promise<void> {
    const { settings, logger, notifier } = this.deps;
    const pct = `${(rate * 100).toFixed(1)} % of ${calls} calls in ${Math.round(settings.windowMs / 1000)} s failed (threshold ${(settings.errorRate * 100).toFixed(0)} %)`;
    logger.warn('error rate high', { function: fn, version, rate, calls });
    await notifier.notify({ kind: 'error-rate.high', function: fn, version, data: { errorRate: rate, threshold: settings.errorRate, windowMs: settings.windowMs, requests: calls } });
    const record = await this.deps.store.getFunction(fn);
    if (!record) return;
    const canaryOf = canaryAliases(record, version);
    for (const alias of canaryOf) {
      await this.deps.releases.endCanary(fn, alias, `canary v${version} rolled back automatically: ${pct}`);
    }
    if (canaryOf.length === 0 && this.#freshRollout(record, version)) {
      const to = record.rollout!.from![0]!.version;
      await this.deps.releases.rollback(fn, to, true, `v${version} rolled back automatically to v${to}: ${pct}`);
    }
  }

  /** `latest` moved to this version by a build or an alias change less than watchMs ago, from a version it can go back to. */
  #freshRollout(fn: FunctionRecord, version: number): boolean {
    const r = fn.rollout;
    if (!r || r.alias !== LATEST || r.state !== 'done' || (r.cause !== 'build' && r.cause !== 'alias')) return false;
    if (fn.currentVersion !== version || !r.from || r.from[0]!.version === version) return false;
    return this.deps.clock.now() - Date.parse(r.finishedAt ?? r.startedAt) <= this.deps.settings.watchMs;
  }

  #act(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => this.deps.logger.warn('automatic rollback failed', { err })).finally(() => this.#acting.delete(tracked));
    this.#acting.add(tracked);
  }

  protected async doClose(): Promise<void> {
    await Promise.allSettled([...this.#acting]);
    this.#windows.clear();
  }
}

/** The aliases in which `version` is the canary: split, and not the primary (first) version. */
function canaryAliases(fn: FunctionRecord, version: number): string[] {
  const names = [...Object.keys(fn.aliases ?? {})];
  return names.filter((a) => {
    const vs = aliasVersions(fn, a);
    return vs !== null && vs.length > 1 && vs[0]!.version !== version && vs.some((v) => v.version === version);
  });
}

