// Moving aliases: a new build's rollout, PUT …/aliases/:alias, a rollback by hand and one Stratus decides
// on (error-watch.ts). Every move goes the same way: the target versions get a ready instance first
// (through the Scheduler, which starts one if none is warm), then the alias moves in one compare-and-set of
// the function record — so traffic never moves to a version that cannot start. A move whose instances are
// not ready by the deadline is abandoned: the alias stays where it was, the rollout says why, and a
// notification goes out. A rollback whose version still has warm instances (they are kept for a grace
// period after a rollout for exactly this) moves at once.

import { LATEST, MAX_ALIASES, aliasVersions, type WeightedVersion } from '../../core/aliases.js';
import { StratusError, functionNotFound } from '../../core/errors.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { Store } from '../../core/store/store.js';
import type { DeployedVersion, FunctionRecord, RolloutState, VersionRecord } from '../../core/types.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { Notifier } from '../../core/ports/notifier.js';
import { toDeployed } from '../../core/versions.js';

export interface ReleaseServiceDeps {
  store: Store;
  scheduler: Scheduler;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  /** How long a move waits for ready instances of its target versions before it is abandoned. */
  rolloutDeadlineMs: number;
}

export interface MoveResult {
  name: string;
  alias: string;
  versions: WeightedVersion[];
  previous: WeightedVersion[] | null;
  rollout: RolloutState;
}

export class ReleaseService {
  constructor(private readonly deps: ReleaseServiceDeps) {}

  /**
   * A new build's rollout: `latest` moves to `version` unless a newer version already serves (an older build
   * that finishes late must not roll the function back). Returns what happened, in words for the build log.
   */
  async promote(name: string, version: number): Promise<string> {
    const fn = await this.#require(name);
    if (fn.currentVersion !== null && fn.currentVersion > version) return `version ${fn.currentVersion} is newer and serves: v${version} stays unserved`;
    try {
      await this.move(name, LATEST, [{ version, weight: 100 }], 'build', null, (f) => f.currentVersion === null || f.currentVersion <= version);
      return `v${version} has a ready instance and serves ${name}`;
    } catch (err) {
      if (err instanceof StratusError && err.code === 'ROLLOUT_ABANDONED') return `abandoned: ${err.message}`;
      throw err;
    }
  }

  /** Moves `alias` of `name` to `to` once they have ready instances; StratusError ROLLOUT_ABANDONED when they do not in time. */
  async move(name: string, alias: string, to: WeightedVersion[], cause: RolloutState['cause'], reason: string | null = null, stillWanted: (f: FunctionRecord) => boolean = () => true): Promise<MoveResult> {
    const fn = await this.#require(name);
    const records = await Promise.all(to.map((v) => this.#readyVersion(name, v.version)));
    const from = aliasVersions(fn, alias);
    if (!fn.aliases?.[alias] && alias !== LATEST && Object.keys(fn.aliases ?? {}).filter((a) => a !== LATEST).length >= MAX_ALIASES) {
      throw new StratusError('CONFLICT', `function ${name} has ${MAX_ALIASES} aliases, the most it can have; delete one first`, { function: name, limit: MAX_ALIASES });
    }
    const startedAt = this.#now();
    const rollout = (state: RolloutState['state'], why: string | null): RolloutState => ({ alias, to, from, cause, state, startedAt, finishedAt: state === 'warming' ? null : this.#now(), reason: why });
    await this.deps.store.updateFunction(name, (f) => f && { ...f, rollout: rollout('warming', reason) });

    // A first version has no traffic to keep serving while it warms: it serves at once (its first call starts it).
    const nothingServed = from === null && alias === LATEST;
    const warm = nothingServed || this.#alreadyWarm(name, to) ? null : await this.#warm(records.map(toDeployed)).catch((err: unknown) => err as Error);
    if (warm instanceof Error) {
      const why = `version${to.length > 1 ? 's' : ''} ${to.map((v) => v.version).join(' and ')} got no ready instance within ${this.deps.rolloutDeadlineMs} ms: ${warm.message}`;
      await this.deps.store.updateFunction(name, (f) => f && { ...f, rollout: rollout('abandoned', why) });
      this.deps.logger.warn('rollout abandoned', { function: name, alias, to, reason: why });
      await this.deps.notifier.notify({ kind: 'rollout.abandoned', function: name, version: to[0]!.version, data: { alias, from: from?.[0]?.version ?? null, to: to[0]!.version, reason: why } });
      throw new StratusError('ROLLOUT_ABANDONED', `${why}; ${alias} still serves ${describe(from)}`, { function: name, alias });
    }
    const done = rollout('done', reason);
    const stored = await this.deps.store.updateFunction(name, (f) => f && (stillWanted(f) ? withAlias(f, alias, to, done, this.#now()) : null));
    if (!stored) {
      await this.#require(name);
      return { name, alias, versions: aliasVersions(fn, alias) ?? to, previous: from, rollout: { ...done, state: 'abandoned', reason: 'a newer version moved in meanwhile' } };
    }
    this.deps.logger.info('alias moved', { function: name, alias, to, from, cause });
    return { name, alias, versions: to, previous: from, rollout: done };
  }

  /** Moves `latest` back to `version`, or to the newest ready version below the current one. */
  async rollback(name: string, version: number | undefined, automatic = false, reason?: string): Promise<MoveResult> {
    const fn = await this.#require(name);
    const current = fn.currentVersion;
    if (current === null) throw new StratusError('CONFLICT', `function ${name} serves no version yet: nothing to roll back`, { function: name });
    const target = version ?? (await this.#previousGood(name, current));
    if (target === current && !fn.aliases?.[LATEST]) throw new StratusError('CONFLICT', `function ${name} already serves version ${current}`, { function: name, version: current });
    const why = reason ?? (version === undefined ? `rolled back by hand to the previous good version ${target}` : `rolled back by hand to version ${target}`);
    const moved = await this.move(name, LATEST, [{ version: target, weight: 100 }], automatic ? 'auto-rollback' : 'rollback', why);
    await this.deps.notifier.notify({ kind: 'rollback', function: name, version: target, data: { alias: LATEST, from: current, to: target, automatic, reason: why } });
    return moved;
  }

  /** Ends a canary: the alias keeps its primary (first) version only. */
  async endCanary(name: string, alias: string, reason: string): Promise<MoveResult | null> {
    const fn = await this.#require(name);
    const versions = aliasVersions(fn, alias);
    if (!versions || versions.length < 2) return null;
    const [primary, canary] = versions as [WeightedVersion, WeightedVersion];
    const moved = await this.move(name, alias, [{ version: primary.version, weight: 100 }], 'auto-rollback', reason);
    await this.deps.notifier.notify({ kind: 'rollback', function: name, version: primary.version, data: { alias, from: canary.version, to: primary.version, automatic: true, reason } });
    return moved;
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    if (alias === LATEST) throw new StratusError('INVALID_REQUEST', 'latest is what the plain function URL serves: move it (PUT) or roll back, it cannot be deleted', { field: 'alias' });
    let existed = false;
    const stored = await this.deps.store.updateFunction(name, (f) => {
      if (!f) return null;
      existed = f.aliases?.[alias] !== undefined;
      if (!existed) return null;
      const { [alias]: _gone, ...rest } = f.aliases!;
      return { ...f, aliases: rest, updatedAt: this.#now() };
    });
    if (!stored && !existed) {
      await this.#require(name);
      throw new StratusError('NOT_FOUND', `function ${name} has no alias "${alias}"; list them with GET /v1/functions/${name}/aliases`, { function: name });
    }
  }

  async aliases(name: string): Promise<Record<string, WeightedVersion[]>> {
    const fn = await this.#require(name);
    const all: Record<string, WeightedVersion[]> = {};
    const latest = aliasVersions(fn, LATEST);
    if (latest) all[LATEST] = latest;
    for (const [alias, t] of Object.entries(fn.aliases ?? {})) all[alias] = t.versions;
    return all;
  }

  /** Every target already has a ready instance here: no need to wait (a rollback to a version kept warm). */
  #alreadyWarm(name: string, to: WeightedVersion[]): boolean {
    const ready = new Set(this.deps.scheduler.instances(name).filter((i) => i.state === 'ready').map((i) => i.version));
    return to.every((v) => ready.has(v.version));
  }

  /** One ready instance of each version: a lease taken (starting an instance if none is warm) and given back unused. */
  async #warm(targets: DeployedVersion[]): Promise<void> {
    const deadline = this.deps.clock.now() + this.deps.rolloutDeadlineMs;
    await Promise.all(targets.map(async (t) => (await this.deps.scheduler.acquire(t, { deadline })).release('ok')));
  }

  async #previousGood(name: string, current: number): Promise<number> {
    const versions = await this.deps.store.listVersions(name);
    const previous = versions.filter((v) => v.status === 'ready' && v.version < current).at(-1);
    if (!previous) throw new StratusError('CONFLICT', `function ${name} has no ready version before ${current} to roll back to`, { function: name, version: current });
    return previous.version;
  }

  async #readyVersion(name: string, version: number): Promise<VersionRecord> {
    const v = await this.deps.store.getVersion(name, version);
    if (!v) throw new StratusError('NOT_FOUND', `function ${name} has no version ${version}; list them with GET /v1/functions/${name}/versions`, { function: name, version });
    if (v.status !== 'ready') throw new StratusError('CONFLICT', `version ${version} of ${name} is ${v.status}, not ready: only a version whose build succeeded can serve`, { function: name, version });
    return v;
  }

  async #require(name: string): Promise<FunctionRecord> {
    const fn = await this.deps.store.getFunction(name);
    if (!fn) throw functionNotFound(name);
    return fn;
  }

  #now(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }
}

/** The record with `alias` pointing at `to`; for latest, the current version is its primary. */
export function withAlias(f: FunctionRecord, alias: string, to: WeightedVersion[], rollout: RolloutState, now: string): FunctionRecord {
  const aliases = { ...(f.aliases ?? {}) };
  if (alias === LATEST && to.length === 1) delete aliases[LATEST];
  else aliases[alias] = { versions: to, updatedAt: now };
  return { ...f, aliases, currentVersion: alias === LATEST ? to[0]!.version : f.currentVersion, rollout, updatedAt: now };
}

const describe = (vs: WeightedVersion[] | null): string => (vs ? vs.map((v) => `v${v.version}${vs.length > 1 ? ` (${v.weight} %)` : ''}`).join(' and ') : 'nothing');
