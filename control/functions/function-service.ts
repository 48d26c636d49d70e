// Create, update, patch and delete functions over the store, builder and scheduler. Routes stay thin:
// they parse the request and hand a validated config here. The data plane is reached only through the
// store: a write resolves once this replica's views have taken in its change notice (core/store/store.ts
// watchFunctions), so the function URL flips before the answer and no call here names the route cache;
// the served-versions reconciler (control/releases/) prewarms and retires on the same notices.

import { StratusError, functionNotFound } from '../../core/errors.js';
import { mergeFunctionConfig, type FunctionConfig } from '../../core/function-config.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { Store } from '../../core/store/store.js';
import type { BuildRecord, FunctionRecord, Origin, VersionRecord } from '../../core/types.js';
import type { Builder } from '../../builder/builder.js';
import { TurnPassed, type DeployResult, type Deployer, type VersionTurn } from '../../core/ports/deployer.js';
import type { FailingView, Scheduler } from '../../scheduler/scheduler.js';

/** failing: the current version's instances keep failing to start, and the scheduler backs off (FailingView). */
export type FunctionStatus = 'ready' | 'building' | 'failed' | 'failing';


export class FunctionService implements Deployer {
  constructor(
    private readonly store: Store,
    private readonly builder: Builder,
    private readonly scheduler: Scheduler,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Rolls a new ready version out (control/releases/): a ready instance first, then latest moves to it. */
    private readonly promote: (fn: string, version: number) => Promise<string> = async () => 'no rollout',
  ) {}

  /**
   * A new version from uploaded source. The upload is unpacked and checked first, while the caller
   * waits: a bad archive is a 4xx and nothing is recorded — the function stays as it was. `origin` says
   * what brought the source (an upload, or a git push with its commit), kept on the build and the version.
   */
  async deployUpload(config: FunctionConfig, buildId: string, source: { path: string; name: string }, origin: Origin = { kind: 'upload' }, turn?: VersionTurn): Promise<DeployResult> {
    await this.builder.prepare({ buildId, config, sourcePath: source.path, sourceName: source.name });
    let build: BuildRecord | undefined;
    try {
      const now = this.#now();
      // A git push takes its number in its turn (services/git/): after the upload's checks, so a push refused
      // there takes no turn, and not at all when a later push took one first (TurnPassed, nothing recorded).
      const version = turn ? await turn() : await this.store.nextVersion(config.name);
      build = {
        id: buildId, function: config.name, version, status: 'queued', createdAt: now,
        startedAt: null, finishedAt: null, timings: {}, image: null, error: null,
        ...(this.builder.platformId ? { builtBy: this.builder.platformId } : {}),
        origin,
      };
      await this.store.putBuild(build);
      await this.store.putVersion({ function: config.name, version, config, status: 'building', image: null, artifactDir: null, buildId, createdAt: now, origin });
      await this.store.updateFunction(config.name, (existing) => this.#nextRecord(existing, config, version, now));
      await this.builder.submit({ buildId, function: config.name, version, config, sourcePath: source.path, sourceName: source.name });
      return { name: config.name, version, buildId, status: 'queued' };
    } catch (err) {
      if (!(err instanceof TurnPassed)) this.logger.error('could not record or queue the build', { buildId, function: config.name, err });
      await this.builder.discard(buildId);
      if (build) {
        const failedAt = this.#now();
        await this.store.putBuild({ ...build, status: 'failed', finishedAt: failedAt, error: 'the build could not be queued; try the upload again' });
        await this.store.putVersion({ function: config.name, version: build.version, config, status: 'failed', image: null, artifactDir: null, buildId, createdAt: build.createdAt, origin });
      }
      throw err;
    }
  }

  /** A new version running the user's own image: nothing to build, it is current at once. */
  async deployImage(config: FunctionConfig & { image: string }): Promise<DeployResult> {
    const now = this.#now();
    const version = await this.store.nextVersion(config.name);
    await this.store.putVersion({ function: config.name, version, config, status: 'ready', image: config.image, artifactDir: null, buildId: null, createdAt: now, origin: { kind: 'image' } });
    await this.store.updateFunction(config.name, (existing) => this.#nextRecord(existing, config, version, now));
    this.logger.info('image version rolled out', { function: config.name, version, rollout: await this.promote(config.name, version) });
    return { name: config.name, version, buildId: null, status: 'ready' };
  }

  /** A config-only change: a new version reusing the current version's code, rolled out like a build's. */
  async patch(name: string, patch: unknown): Promise<{ name: string; version: number; config: FunctionConfig; rollout: string }> {
    const fn = await this.#require(name);
    const current = fn.currentVersion === null ? null : await this.store.getVersion(name, fn.currentVersion);
    if (!current || current.status !== 'ready') {
      throw new StratusError('CONFLICT', `function ${name} has no deployed version to change yet; wait for its build or upload code first`, { function: name });
    }
    const config = mergeFunctionConfig(current.config, patch);
    if (config.runtime !== current.config.runtime && current.artifactDir !== null) {
      throw new StratusError('INVALID_CONFIG', 'the runtime cannot change without new code; upload the code again with POST /v1/functions', { field: 'body.runtime' });
    }
    const now = this.#now();
    const version = await this.store.nextVersion(name);
    const next: VersionRecord = {
      function: name, version, config, status: 'ready', image: config.image ?? current.image,
      artifactDir: current.artifactDir, handler: current.handler ?? null, buildId: current.buildId, createdAt: now, origin: { kind: 'patch' },
    };
    await this.store.putVersion(next);
    // The record names the new config at once; latest moves once the version has a ready instance.
    await this.store.updateFunction(name, (f) => f && { ...f, config, latestVersion: Math.max(f.latestVersion, version), updatedAt: now });
    const rollout = await this.promote(name, version);
    return { name, version, config, rollout };
  }

  /**
   * Instances first, then the artifacts and the records. The delete's notice does the rest on every
   * replica (this one before it resolves): the route goes, and the reconciler retires what is left and
   * drops the function's metric series.
   */
  async remove(name: string): Promise<void> {
    await this.#require(name);
    await this.scheduler.retire(name);
    await this.builder.purge(name);
    await this.store.deleteFunction(name);
  }

  async get(name: string): Promise<{ fn: FunctionRecord; versions: VersionRecord[]; status: FunctionStatus; failing: FailingView | null }> {
    const fn = await this.#require(name);
    const versions = await this.store.listVersions(name);
    const latest = versions.find((v) => v.version === fn.latestVersion);
    // Shown for whichever version is in crash-loop backoff (one an abandoned rollout or /fn/NAME@vN started);
    // the function is `failing` only when it is the version it serves.
    const failing = this.scheduler.failing?.(fn.name) ?? null;
    return { fn, versions, status: statusOf(fn, latest, this.#failing(fn)), failing };
  }

  async list(): Promise<Array<{ fn: FunctionRecord; status: FunctionStatus }>> {
    const fns = await this.store.listFunctions();
    return Promise.all(
      fns.map(async (fn) => ({ fn, status: statusOf(fn, await this.store.getVersion(fn.name, fn.latestVersion), this.#failing(fn)) })),
    );
  }

  /** The scheduler's word on the current version (this replica's view: each replica backs off on its own). */
  #failing(fn: FunctionRecord): FailingView | null {
    const view = this.scheduler.failing?.(fn.name) ?? null;
    return view && view.version === fn.currentVersion ? view : null;
  }

  async #require(name: string): Promise<FunctionRecord> {
    const fn = await this.store.getFunction(name);
    if (!fn) throw functionNotFound(name);
    return fn;
  }

  /**
   * The record once a new version is made: the same aliases and last rollout (a new upload must not drop
   * prod), written in one update so an alias moved meanwhile is not overwritten; latest moves at its rollout.
   */
  #nextRecord(existing: FunctionRecord | null, config: FunctionConfig, latestVersion: number, now: string): FunctionRecord {
    return { ...existing, name: config.name, config, currentVersion: existing?.currentVersion ?? null, latestVersion, createdAt: existing?.createdAt ?? now, updatedAt: now };
  }

  #now(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

/**
 * What the function URL does now: serve (ready), wait for a first build (building), nothing (failed), or
 * answer 502/503 while its instances keep failing to start (failing).
 */
function statusOf(fn: FunctionRecord, latest: VersionRecord | null | undefined, failing: FailingView | null): FunctionStatus {
  if (latest?.status === 'building') return 'building';
  if (fn.currentVersion !== null) return failing ? 'failing' : 'ready';
  return latest?.status === 'failed' ? 'failed' : 'building';
}
