// The data plane's view of which version serves each function URL, held in memory so the hot path
// needs no store round trip. It is refilled on a miss and refreshed whenever the store reports a change
// (from this or another replica). This is the one place that reacts to a new current version: it flips
// the route at once, retires the older versions' instances and prewarms the new one. Beside each version
// it keeps the function URL's HttpPolicy (auth, methods, CORS: http-policy.ts), compiled at the same load.

import { StratusError } from '../core/errors.js';
import { Closeable, type Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { Store } from '../core/store/store.js';
import type { HttpTrigger } from '../core/triggers.js';
import type { DeployedVersion } from '../core/types.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { compileHttpPolicy, type HttpPolicy } from './http-policy.js';

const MAX_REMEMBERED_MISSES = 10_000;
const NOT_READY_MEMORY_MS = 5000;

/** What a function URL serves and what it accepts: both replaced together, never changed in place. */
export interface Route {
  readonly target: DeployedVersion;
  readonly policy: HttpPolicy;
}

export class RouteTable extends Closeable {
  readonly #routes = new Map<string, Route>();
  /** Last current version seen per function, to tell a real flip from an unrelated update. */
  readonly #seen = new Map<string, number | null>();
  /** Refreshes of one function run one after another so an older read never overwrites a newer one. */
  readonly #chains = new Map<string, Promise<void>>();
  readonly #background = new Set<Promise<void>>();
  /**
   * Why a name is not routable, so that a stream of calls to a wrong or not-yet-built URL does not cost
   * store reads per request. Forgotten when the store reports a change to the function (a create, a
   * deploy, a build's end all write its record); "building"/"failed" also after a few seconds, in case a
   * change notice was lost (Redis pub/sub does not replay what a reconnecting subscriber missed).
   */
  readonly #misses = new Map<string, { error: StratusError; until: number }>();
  readonly #unwatch: () => void;

  constructor(
    private readonly store: Store,
    private readonly scheduler: Scheduler,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {
    super();
    this.#unwatch = store.watchFunctions((name) => {
      const names = name === null ? this.#known() : [name];
      for (const n of names) this.refresh(n).catch((err: unknown) => this.logger.warn('route refresh failed', { function: n, err }));
    });
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
    const previous = this.#chains.get(name) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => this.#load(name));
    this.#chains.set(name, next);
    void next.finally(() => {
      if (this.#chains.get(name) === next) this.#chains.delete(name);
    }).catch(() => {});
    return next;
  }

  async #load(name: string): Promise<void> {
    if (this.closed) return;
    const fn = await this.store.getFunction(name);
    const before = this.#seen.get(name);
    if (!fn) {
      this.#routes.delete(name);
      this.#seen.delete(name);
      // Deleted, possibly by another replica: this replica's instances of it must go too.
      if (before !== undefined) this.#inBackground('retire', name, () => this.scheduler.retire(name));
      return;
    }
    const current = fn.currentVersion;
    // The http trigger and its keys are read with the version: a change of either is announced like a
    // change of the function, so the policy is as fresh as the route and no call reads the store for it.
    const [v, policy] = await Promise.all([current === null ? null : this.store.getVersion(name, current), this.#policy(name)]);
    if (current === null || !v || v.status !== 'ready') {
      if (current !== null) this.logger.warn('current version is not ready; not routing to it', { function: name, version: current });
      this.#routes.delete(name);
      this.#seen.set(name, null);
      return;
    }
    const deployed: DeployedVersion = { function: name, version: v.version, config: v.config, image: v.image, artifactDir: v.artifactDir, handler: v.handler ?? null };
    this.#routes.set(name, Object.freeze({ target: deployed, policy }));
    this.#seen.set(name, current);
    if (before !== current) {
      this.logger.info('routing to new version', { function: name, version: current, previous: before ?? null });
      this.#inBackground('retire/prewarm', name, async () => {
        await this.scheduler.retire(name, current);
        await this.scheduler.prewarm(deployed);
      });
    }
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

  #inBackground(what: string, name: string, task: () => Promise<void>): void {
    const p = task()
      .catch((err: unknown) => this.logger.warn(`${what} failed`, { function: name, err }))
      .finally(() => this.#background.delete(p));
    this.#background.add(p);
  }

  protected async doClose(): Promise<void> {
    this.#unwatch();
    await Promise.allSettled([...this.#chains.values()]);
    await Promise.allSettled([...this.#background]);
    this.#routes.clear();
  }
}
