// The data plane's view of which version serves each function URL, held in memory so the hot path
// needs no store round trip. A cache and nothing more: refilled on a miss and refreshed whenever the store
// reports a change (from this or another replica), so any replica, or a native proxy, could rebuild it
// from the same records. A refresh flips the routes (`latest` for /fn/NAME, each alias for /fn/NAME@ALIAS,
// a canary split by weight) before the write that caused it resolves on this replica (read-your-writes:
// core/store/store.ts watchFunctions). Beside the versions it keeps the function URL's HttpPolicy (auth, methods,
// CORS: http-policy.ts), compiled at the same load. What runs where — prewarming the versions now served,
// retiring those no alias serves — is the control plane's served-versions reconciler
// (control/releases/served-versions.ts).

import { LATEST, aliasVersions, aliasedVersions, pickWeighted, type WeightedVersion } from '../../core/aliases.js';
import { StratusError } from '../../core/errors.js';
import { KeyedTurns } from '../../core/keyed-turns.js';
import { Closeable, type Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { Store } from '../../core/store/store.js';
import type { HttpTrigger } from '../../core/triggers.js';
import type { DeployedVersion } from '../../core/types.js';
import { compileHttpPolicy, type HttpPolicy } from './http-policy.js';
import { toDeployed } from '../../core/versions.js';

const MAX_REMEMBERED_MISSES = 10_000;
const NOT_READY_MEMORY_MS = 5000;

/** What a function URL serves and what it accepts: both replaced together, never changed in place. */
export interface Route {
  /** The version `latest` serves (its primary while it is split for a canary). */
  readonly target: DeployedVersion;
  readonly policy: HttpPolicy;
  /** Picks the version of one call to the plain URL: `target`, or by weight while `latest` is split. */
  readonly pick: () => DeployedVersion;
  /** Each named alias's pick; `/fn/NAME@ALIAS`. */
  readonly aliases: ReadonlyMap<string, () => DeployedVersion>;
  /** Every version some alias serves, by number (`/fn/NAME@vN` finds these without a store read). */
  readonly versions: ReadonlyMap<number, DeployedVersion>;
  /** `latest` is one version (not split for a canary): every plain call goes to `target`. */
  readonly single: boolean;
}

/** Told of a function's route after each load: the route, or undefined when the function is not routable. */
export type RouteListener = (name: string, route: Route | undefined) => void | Promise<void>;

/** A pick among weighted versions: a constant for one version (the common case costs nothing). */
function chooser(versions: readonly WeightedVersion[], deployed: ReadonlyMap<number, DeployedVersion>): () => DeployedVersion {
  const only = deployed.get(versions[0]!.version)!;
  if (versions.length === 1) return () => only;
  return () => deployed.get(pickWeighted(versions, Math.random()))!;
}

/** Pinned versions (/fn/NAME@vN of a version no alias serves) kept per function. */
const MAX_PINNED = 20;

export class RouteTable extends Closeable {
  readonly #routes = new Map<string, Route>();
  /** Last current version seen per function, to tell a real flip from an unrelated update. */
  readonly #seen = new Map<string, number | null>();
  /** Refreshes of one function run one after another so an older read never overwrites a newer one. */
  readonly #turns = new KeyedTurns();
  /**
   * Why a name is not routable, so that a stream of calls to a wrong or not-yet-built URL does not cost
   * store reads per request. Forgotten when the store reports a change to the function (a create, a
   * deploy, a build's end all write its record); "building"/"failed" also after a few seconds, in case a
   * change notice was lost (Redis pub/sub does not replay what a reconnecting subscriber missed).
   */
  readonly #misses = new Map<string, { error: StratusError; until: number }>();
  readonly #unwatch: () => void;
  /** Versions called by number that do not exist or are not ready, remembered a few seconds (bounded). */
  readonly #versionMisses = new Map<string, { error: StratusError; until: number }>();
  /** Versions called by number that no alias serves: function -> version -> deployed (bounded; forgotten on a change). */
  readonly #pinned = new Map<string, Map<number, DeployedVersion>>();
  readonly #listeners = new Set<RouteListener>();

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {
    super();
    // The promise returned is what this replica's write waits for: the next call routes by what it wrote.
    this.#unwatch = store.watchFunctions((name) => {
      const names = name === null ? this.#known() : [name];
      return Promise.all(names.map((n) => this.refresh(n).catch((err: unknown) => this.logger.warn('route refresh failed', { function: n, err }))));
    });
  }

  /**
   * Told after each load of a function's route (a native proxy follows the routes this way). A write waits for
   * the listeners as it waits for the table, so the next call routes by what it wrote on either path.
   */
  onRoute(listener: RouteListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The routes held now (for a listener that joins late). */
  routes(): IterableIterator<[string, Route]> {
    return this.#routes.entries();
  }

  async #tell(name: string): Promise<void> {
    const route = this.#routes.get(name);
    for (const l of this.#listeners) {
      try {
        await l(name, route);
      } catch (err) {
        this.logger.warn('a route listener failed', { function: name, err });
      }
    }
  }

  /** Every name this table holds anything about: what a resync must re-read. */
  #known(): string[] {
    this.#misses.clear();
    return [...new Set([...this.#routes.keys(), ...this.#seen.keys()])];
  }

  /** The version a function URL serves now, if this table holds it. */
  lookup(name: string): DeployedVersion | undefined {
    return this.#routes.get(name)?.target;
  }

  /** The hot path: a synchronous map lookup. */
  route(name: string): Route | undefined {
    return this.#routes.get(name);
  }

  async resolve(name: string): Promise<DeployedVersion> {
    return (await this.resolveRoute(name)).target;
  }

  /**
   * The pick for `/fn/NAME@QUALIFIER`: an alias, or `vN` for version N itself. Resolves from memory when an
   * alias serves it; a version no alias serves is read from the store once and kept (bounded).
   */
  async qualified(route: Route, qualifier: string): Promise<() => DeployedVersion> {
    const name = route.target.function;
    const n = /^v(\d{1,9})$/.exec(qualifier);
    if (!n) {
      if (qualifier === LATEST) return route.pick;
      const alias = route.aliases.get(qualifier);
      if (!alias) throw new StratusError('NOT_FOUND', `function ${name} has no alias "${qualifier.slice(0, 63)}"; list them with GET /v1/functions/${name}/aliases`, { function: name });
      return alias;
    }
    const version = Number(n[1]);
    const served = route.versions.get(version) ?? this.#pinned.get(name)?.get(version);
    if (served) return () => served;
    // A stream of calls to versions that do not exist (or are not ready) must not cost a store read each.
    const missKey = `${name}@${version}`;
    const known = this.#versionMisses.get(missKey);
    if (known && known.until > this.clock.now()) throw known.error;
    const v = await this.store.getVersion(name, version);
    const why = !v
      ? new StratusError('NOT_FOUND', `function ${name} has no version ${version}; list them with GET /v1/functions/${name}/versions`, { function: name })
      : v.status !== 'ready'
        ? new StratusError('FUNCTION_NOT_READY', `version ${version} of ${name} is ${v.status}: only a version whose build succeeded can serve`, { function: name, version })
        : null;
    if (why || !v) {
      if (this.#versionMisses.size >= MAX_REMEMBERED_MISSES) this.#versionMisses.clear();
      this.#versionMisses.set(missKey, { error: why!, until: this.clock.now() + NOT_READY_MEMORY_MS });
      throw why;
    }
    const deployed = toDeployed(v);
    let pinned = this.#pinned.get(name);
    if (!pinned) this.#pinned.set(name, (pinned = new Map()));
    if (pinned.size >= MAX_PINNED) pinned.delete(pinned.keys().next().value!);
    pinned.set(version, deployed);
    return () => deployed;
  }

  /** The route, loading it on a miss; throws FUNCTION_NOT_FOUND or FUNCTION_NOT_READY (saying why). */
  async resolveRoute(name: string): Promise<Route> {
    const cached = this.#routes.get(name);
    if (cached) return cached;
    const known = this.#misses.get(name);
    if (known && known.until > this.clock.now()) throw known.error;
    await this.refresh(name);
    const loaded = this.#routes.get(name);
    if (loaded) return loaded;
    const why = await this.#whyNotRoutable(name);
    // Bounded: a flood of random names must not grow memory without end.
    if (this.#misses.size >= MAX_REMEMBERED_MISSES) this.#misses.clear();
    this.#misses.set(name, { error: why, until: why.code === 'FUNCTION_NOT_FOUND' ? Infinity : this.clock.now() + NOT_READY_MEMORY_MS });
    throw why;
  }

  /** Re-read a function from the store and update its route. */
  refresh(name: string): Promise<void> {
    this.#misses.delete(name);
    return this.#turns.take(name, async () => {
      await this.#load(name);
      if (this.#listeners.size > 0 && !this.closed) await this.#tell(name);
    });
  }

  async #load(name: string): Promise<void> {
    if (this.closed) return;
    const fn = await this.store.getFunction(name);
    const before = this.#seen.get(name);
    // A version called by number is read again after any change of its function (a delete included).
    this.#pinned.delete(name);
    if (!fn) {
      this.#routes.delete(name);
      this.#seen.delete(name);
      return;
    }
    const current = fn.currentVersion;
    const served = aliasedVersions(fn);
    // The http trigger and its keys are read with the versions: a change of either is announced like a
    // change of the function, so the policy is as fresh as the route and no call reads the store for it.
    const [records, policy] = await Promise.all([Promise.all([...served].map((n) => this.store.getVersion(name, n))), this.#policy(name)]);
    const deployed = new Map<number, DeployedVersion>();
    for (const v of records) if (v?.status === 'ready') deployed.set(v.version, toDeployed(v));
    const latest = aliasVersions(fn, LATEST);
    if (current === null || !latest || !latest.every((w) => deployed.has(w.version))) {
      if (current !== null) this.logger.warn('current version is not ready; not routing to it', { function: name, version: current });
      this.#routes.delete(name);
      this.#seen.set(name, null);
      return;
    }
    const aliases = new Map<string, () => DeployedVersion>();
    for (const alias of Object.keys(fn.aliases ?? {})) {
      const vs = aliasVersions(fn, alias)!;
      if (alias !== LATEST && vs.every((w) => deployed.has(w.version))) aliases.set(alias, chooser(vs, deployed));
    }
    const target = deployed.get(current)!;
    this.#routes.set(name, Object.freeze({ target, policy, pick: chooser(latest, deployed), aliases, versions: deployed, single: latest.length === 1 }));
    this.#seen.set(name, current);
    if (before !== current) this.logger.info('routing to new version', { function: name, version: current, previous: before ?? null });
  }

  async #policy(name: string): Promise<HttpPolicy> {
    const trigger = (await this.store.listTriggers(name)).find((t): t is HttpTrigger => t.type === 'http');
    const keys = trigger?.auth === 'key' ? await this.store.listInvokeKeys(name) : [];
    return compileHttpPolicy(trigger, keys);
  }

  async #whyNotRoutable(name: string): Promise<StratusError> {
    const fn = await this.store.getFunction(name);
    if (!fn) return new StratusError('FUNCTION_NOT_FOUND', `no function named "${name}"; create it with POST /v1/functions`, { function: name });
    const latest = await this.store.getVersion(name, fn.latestVersion);
    const build = latest?.buildId ? await this.store.getBuild(latest.buildId) : null;
    if (!build) return new StratusError('FUNCTION_NOT_READY', `function ${name} has no ready version yet`, { function: name });
    const links = { buildId: build.id, build: `/v1/builds/${build.id}`, logs: `/v1/builds/${build.id}/logs` };
    if (build.status === 'failed') {
      return new StratusError(
        'FUNCTION_NOT_READY',
        `function ${name} has no ready version: the build ${build.id} of version ${build.version} failed: ${build.error ?? 'see its log'}`,
        { function: name, buildStatus: build.status, ...links },
      );
    }
    return new StratusError(
      'FUNCTION_NOT_READY',
      `function ${name} is still building (version ${build.version}, build ${build.id} is ${build.status}); follow it at GET /v1/builds/${build.id}`,
      { function: name, buildStatus: build.status, retryAfterSeconds: 5, ...links },
    );
  }

  protected async doClose(): Promise<void> {
    this.#unwatch();
    await this.#turns.settled();
    this.#routes.clear();
  }
}
