// The Builder: an in-process queue with bounded concurrency and an overall timeout per build, the
// records (build, version, function) kept in step with each job, crash recovery and purge.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import { StratusError, isStratusError } from '../core/errors.js';
import { Closeable, type Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { Store } from '../core/store/store.js';
import type { BuildRecord, BuildRequest, BuildStage, BuildStatus, Runtime } from '../core/types.js';
import type { Builder, UploadToPrepare } from './builder.js';
import { BuildLog } from './build-log.js';
import { BuildFailure } from './build-failure.js';
import { runBuildJob, unpackSource, type BuildPhase, type ImageStep, type JobResult, type PreparedSource } from './build-job.js';
import { CheckFailure, type CheckStage } from './checks.js';
import type { ExtractLimits } from './extract.js';
import type { InstallRunner } from './install.js';
import type { LoadCheck } from '../core/ports/load-check.js';
import { Purger } from './purge.js';
import { platformIdFor } from '../core/platform-id.js';
import type { Notifier } from '../core/ports/notifier.js';
import { StateLayout } from '../core/state-layout.js';

export interface BuildServiceOptions {
  store: Store;
  stateDir: string;
  concurrency: number;
  timeoutMs: number;
  limits: ExtractLimits;
  runner: InstallRunner;
  imageStep: ImageStep | null;
  /** The version is started once before it may become ready; null: no check. */
  loadCheck: LoadCheck | null;
  /** Lint and the function's own tests before the image (checks.ts); absent or null: no check stage. */
  checks?: CheckStage | null;
  baseImages: Record<Runtime, string>;
  tagFor: (fn: string, version: number) => string;
  purger: Purger;
  logger: Logger;
  clock: Clock;
  /** Told of every build that ends failed (checks.failed when its check stage failed, build.failed otherwise), once its records say so; absent: nobody is. */
  notifier?: Notifier;
  /**
   * Rolls a ready version out as the function's current one (gateway/releases: a ready instance first, then
   * the alias moves), unless a newer one already serves; returns what happened, for the build log. Absent:
   * the version becomes current at once.
   */
  promote?: (fn: string, version: number) => Promise<string>;
}

/** Why a running build was stopped: `lost` is a BullMQ job whose lock this replica lost (another took it over). */
export type StopReason = 'timeout' | 'shutdown' | 'purged' | 'lost';

/** How a run of a build ended: its verdict, or why it was stopped before one (its records then say nothing new). */
export type RunOutcome = 'succeeded' | 'failed' | 'shutdown' | 'purged' | 'lost';

const INTERRUPTED = 'interrupted by a restart; upload the code again';

export class BuildService extends Closeable implements Builder {
  readonly #queue: BuildRequest[] = [];
  readonly #running = new Map<string, { fn: string; stop: AbortController; done: Promise<void> }>();
  /** Uploads unpacked by prepare(), waiting for submit(): the build starts from them instead of unpacking again. */
  readonly #prepared = new Map<string, PreparedSource>();

  /** Derived from the state dir, like the container label: builds this builder runs carry it. */
  readonly platformId: string;

  constructor(protected readonly o: BuildServiceOptions) {
    super();
    this.platformId = platformIdFor(o.stateDir);
  }

  async prepare(upload: UploadToPrepare): Promise<void> {
    if (this.closed) throw new StratusError('SHUTTING_DOWN', 'Stratus is shutting down; upload again in a moment');
    const workDir = this.workDir(upload.buildId);
    await fsp.rm(workDir, { recursive: true, force: true });
    try {
      this.#prepared.set(upload.buildId, await unpackSource(upload, path.join(workDir, 'code'), this.o.limits));
    } catch (err) {
      await fsp.rm(workDir, { recursive: true, force: true });
      if (err instanceof BuildFailure) throw new StratusError('INVALID_CONFIG', err.message, { field: 'config.runtime' });
      throw err;
    }
  }

  async discard(buildId: string): Promise<void> {
    this.#prepared.delete(buildId);
    await fsp.rm(this.workDir(buildId), { recursive: true, force: true });
  }

  protected workDir(buildId: string): string {
    return new StateLayout(this.o.stateDir).work(buildId);
  }

  async submit(request: BuildRequest): Promise<void> {
    if (this.closed) throw new StratusError('SHUTTING_DOWN', 'Stratus is shutting down; upload again in a moment');
    if (this.#running.has(request.buildId) || this.#queue.some((q) => q.buildId === request.buildId)) return;
    this.#queue.push(request);
    this.#pump();
  }

  async recover(): Promise<void> {
    for (const b of await this.o.store.listUnfinishedBuilds()) {
      if (this.#running.has(b.id) || this.#queue.some((q) => q.buildId === b.id)) continue;
      // Another Stratus sharing this Redis prefix runs it (its upload and install container are its
      // own) and recovers it when it restarts: neither failed nor its container removed from here.
      if (b.builtBy !== undefined && b.builtBy !== this.platformId) continue;
      await this.recoverOne(b);
    }
  }

  /** One unfinished build of this platform's: queued again from its upload on this disk, or failed when that is gone. */
  protected async recoverOne(b: BuildRecord): Promise<void> {
    await this.o.runner.removeLeftovers?.(b.id);
    const version = await this.o.store.getVersion(b.function, b.version);
    const uploadDir = new StateLayout(this.o.stateDir).upload(b.id);
    const files = await fsp.readdir(uploadDir).catch(() => [] as string[]);
    if (!version || files.length !== 1) {
      this.o.logger.warn('unfinished build cannot be resumed', { buildId: b.id, function: b.function });
      await this.fail(b.id, b.function, b.version, INTERRUPTED);
      return;
    }
    this.o.logger.info('re-queueing a build left unfinished', { buildId: b.id, function: b.function, version: b.version });
    await this.o.store.putBuild({ ...b, status: 'queued', startedAt: null, timings: {} });
    await this.o.store.appendBuildLog(b.id, '[queued] re-queued after a restart\n');
    await this.submit({ buildId: b.id, function: b.function, version: b.version, config: version.config, sourcePath: path.join(uploadDir, files[0]!), sourceName: files[0]! });
  }

  async purge(functionName: string): Promise<void> {
    for (let i = this.#queue.length - 1; i >= 0; i--) if (this.#queue[i]!.function === functionName) this.#queue.splice(i, 1);
    const running = [...this.#running.values()].filter((r) => r.fn === functionName);
    for (const r of running) r.stop.abort('purged' satisfies StopReason);
    await Promise.all(running.map((r) => r.done));
    await this.o.purger.purge(functionName);
  }

  protected async doClose(): Promise<void> {
    // Queued builds stay `queued` in the store and running ones are stopped where they are:
    // recover() at the next start picks them up again, their uploads are still there.
    this.#queue.length = 0;
    for (const r of this.#running.values()) r.stop.abort('shutdown' satisfies StopReason);
    await Promise.all([...this.#running.values()].map((r) => r.done));
  }

  #pump(): void {
    while (!this.closed && this.#running.size < this.o.concurrency && this.#queue.length > 0) {
      const req = this.#queue.shift()!;
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort('timeout' satisfies StopReason), this.o.timeoutMs);
      const done = this.execute(req, stop.signal)
        .then(() => {})
        .catch((err: unknown) => this.o.logger.error('build bookkeeping failed', { buildId: req.buildId, err }))
        .finally(() => {
          clearTimeout(timer);
          this.#running.delete(req.buildId);
          this.#pump();
        });
      this.#running.set(req.buildId, { fn: req.function, stop, done });
    }
  }

  /** Runs one build to its verdict (records, log, notification) unless `signal` stops it first; never throws on the build's own failure. */
  protected async execute(req: BuildRequest, signal: AbortSignal): Promise<RunOutcome> {
    const { store, clock } = this.o;
    const log = new BuildLog(store, req.buildId, this.o.logger);
    const timings: Record<string, number> = {};
    let current: BuildPhase = 'extract';
    const update = async (fields: Partial<BuildRecord>) => {
      const b = await store.getBuild(req.buildId);
      if (b) await store.putBuild({ ...b, ...fields, timings: { ...timings } });
    };
    await update({ status: 'building', startedAt: iso(clock), error: null });
    const workDir = this.workDir(req.buildId);
    const prepared = this.#prepared.get(req.buildId) ?? null;
    this.#prepared.delete(req.buildId);
    // Without a tree from prepare() (a build resumed after a restart), whatever a crash left is stale.
    if (!prepared) await fsp.rm(workDir, { recursive: true, force: true });
    let result: JobResult | null = null;
    let failure: string | null = null;
    let checksSummary: string | null = null;
    try {
      result = await runBuildJob(req, {
        limits: this.o.limits,
        runner: this.o.runner,
        imageStep: this.o.imageStep,
        loadCheck: this.o.loadCheck,
        checks: this.o.checks ?? null,
        // Kept before the verdict, so a failed build's report is there when its failure is told.
        onReport: (report) => store.putBuildReport(req.buildId, report),
        baseImages: this.o.baseImages,
        tagFor: this.o.tagFor,
        workDir,
        artifactDir: new StateLayout(this.o.stateDir).artifact(req.function, req.version),
        clock,
        log,
        signal,
        onPhase: async (p) => {
          current = p;
          log.line(p, `--- ${p}`);
          await update({ status: (p === 'push' ? 'pushing' : p === 'check' ? 'checking' : 'building') satisfies BuildStatus });
        },
        onPhaseDone: (p, ms) => {
          timings[p] = ms;
        },
      }, prepared);
    } catch (err) {
      failure = this.#describe(err, signal, current, req, log);
      checksSummary = err instanceof CheckFailure && !signal.aborted ? err.summary : null;
    } finally {
      await fsp.rm(workDir, { recursive: true, force: true }).catch(() => {});
    }
    const reason = signal.aborted ? (signal.reason as StopReason) : null;
    if (reason === 'shutdown' || reason === 'purged' || reason === 'lost') {
      // Left as it is for recover() (shutdown), gone with its function (purged), or run again by the replica that took it over (lost).
      await log.flush();
      return reason;
    }
    if (failure !== null || !result) {
      const message = failure ?? 'the build ended without a result';
      log.line('failed', message);
      await log.flush();
      await this.fail(req.buildId, req.function, req.version, message, timings, { stage: current, checksSummary });
    } else {
      log.line('succeeded', result.image ? `image ${result.image}` : `artifact ${result.artifactDir}`);
      await log.flush();
      await this.#succeed(req, result, timings);
    }
    await this.#removeUpload(req);
    return failure !== null || !result ? 'failed' : 'succeeded';
  }

  #describe(err: unknown, signal: AbortSignal, phase: BuildPhase, req: BuildRequest, log: BuildLog): string {
    if (signal.aborted && signal.reason === 'timeout') {
      return `the build took longer than ${Math.round(this.o.timeoutMs / 1000)} s and was stopped during ${phase}; make the dependencies smaller or ask an operator to raise STRATUS_BUILD_TIMEOUT_MS`;
    }
    if (err instanceof BuildFailure) return err.message;
    if (isStratusError(err) && err.isUserError) return err.message;
    if (err instanceof Error && err.name === 'ImageStepError') {
      this.o.logger.warn('image step failed', { buildId: req.buildId, phase, err });
      log.line(phase, `error: ${err.message}`);
      return phase === 'push' ? `pushing the image to the registry failed: see the build log` : `building the image failed: see the build log`;
    }
    this.o.logger.error('build failed on an internal error', { buildId: req.buildId, function: req.function, phase, err });
    return `internal error during ${phase}; an operator can find the cause in the platform log (build ${req.buildId})`;
  }

  async #succeed(req: BuildRequest, result: JobResult, timings: Record<string, number>): Promise<void> {
    const { store, clock } = this.o;
    const version = await store.getVersion(req.function, req.version);
    const sourceSha256 = await sha256OfFile(req.sourcePath).catch(() => null);
    if (version) await store.putVersion({ ...version, status: 'ready', image: result.image, digest: result.digest, sourceSha256, artifactDir: result.artifactDir, handler: result.handler, buildId: req.buildId });
    if (this.o.promote) {
      // Before the build says succeeded: whoever waits for it then finds the new version serving.
      const outcome = await this.o.promote(req.function, req.version).catch((err: unknown) => `rollout failed: ${(err as Error).message}`);
      await store.appendBuildLog(req.buildId, `[rollout] ${outcome}\n`);
    } else {
      // An older build that finishes late must not roll the function back.
      await store.updateFunction(req.function, (fn) => (fn && (fn.currentVersion === null || req.version > fn.currentVersion) ? { ...fn, currentVersion: req.version, updatedAt: iso(clock) } : null));
    }
    const b = await store.getBuild(req.buildId);
    if (b) await store.putBuild({ ...b, status: 'succeeded', finishedAt: iso(clock), image: result.image, error: null, timings });
  }

  protected async fail(buildId: string, fn: string, version: number, message: string, timings?: Record<string, number>, how?: { stage: BuildStage; checksSummary: string | null }): Promise<void> {
    const { store, clock } = this.o;
    const v = await store.getVersion(fn, version);
    if (v && v.status === 'building') await store.putVersion({ ...v, status: 'failed' });
    const b = await store.getBuild(buildId);
    if (b) await store.putBuild({ ...b, status: 'failed', finishedAt: iso(clock), error: message, failedStage: how?.stage ?? null, timings: timings ?? b.timings });
    // The function's status changed (its newest build failed): touching the record tells every
    // replica's route table, which answers the function URL with the build's error from then on.
    await store.updateFunction(fn, (record) => (record && record.latestVersion === version ? { ...record, updatedAt: iso(clock) } : null));
    // After the records: a receiver that looks the build up at once finds it failed. Never throws.
    await this.o.notifier?.notify(
      // A checks failure's summary is the tools' findings: its notification says "checks of … failed" itself.
      how?.checksSummary ? { kind: 'checks.failed', function: fn, version, data: { buildId, summary: how.checksSummary } } : { kind: 'build.failed', function: fn, version, data: { buildId, error: message } },
    );
  }

  /**
   * The upload, read by its build, moves to the build's source dir (StateLayout.source): the console's
   * editor and GET /v1/functions/NAME/versions/N/source give it back as it was sent. A failed build's too:
   * its code is what the user wants to fix. A source outside uploads/<buildId>/ is not ours to move.
   */
  async #removeUpload(req: BuildRequest): Promise<void> {
    const dir = path.dirname(req.sourcePath);
    if (path.basename(dir) !== req.buildId) return;
    const keep = new StateLayout(this.o.stateDir).source(req.function, req.buildId);
    try {
      await fsp.rm(keep, { recursive: true, force: true });
      await fsp.mkdir(keep, { recursive: true });
      await fsp.rename(req.sourcePath, path.join(keep, path.basename(req.sourcePath)));
    } catch (err) {
      this.o.logger.warn('could not keep the version\'s source', { buildId: req.buildId, function: req.function, version: req.version, err });
    }
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

const iso = (clock: Clock) => new Date(clock.now()).toISOString();

/** The upload's checksum, streamed (an upload may be large): what a version records of its source. */
async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}
