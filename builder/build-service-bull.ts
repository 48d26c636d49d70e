// The Builder when the store is Redis: one platform of several replicas, each with its own disk. The
// in-process queue of build-service.ts is replaced by a BullMQ queue beside the async one; the build
// itself (stages, records, log, verdict) is BuildService's, unchanged.
//   - The upload goes into the ArtifactStore (Redis, core/store/artifacts-redis.ts) at submit, so any
//     replica can build it; the receiving replica still unpacks and checks it first (a 4xx at upload time).
//   - Job id = build id: a second add of the same build is a no-op. A replica runs at most
//     STRATUS_BUILD_CONCURRENCY builds, and only if it can build images (takesBuilds; a gateway pod on a
//     cluster has no Docker engine and queues builds for a build worker).
//   - The worker's lock on a job is renewed while the build runs (every LOCK_MS / 2). A replica killed
//     mid-build stops renewing: BullMQ's stalled-job check (every STALLED_CHECK_MS, on every worker; a job
//     is moved back by the check after the one that saw it unlocked) puts the job back, and another replica
//     runs it again from the stored upload — taken over LOCK_MS to LOCK_MS + 2 × STALLED_CHECK_MS after the
//     kill (5–9 s; build-takeover.test.ts measured 5.7–8.1 s in six runs — 14.6 s when the check ran every 5 s). Its build log says so, and the record goes through its stages again.
//   - A purge (deleting the function) stops its builds wherever they run: one SET of a stop flag that the
//     running job polls, and a queued job is removed. A timeout is the running replica's own timer.
//   - A graceful stop hands a running build back to the queue (moveToWait): another replica, or this one
//     after its restart, runs it again from the stored upload.

import fsp from 'node:fs/promises';
import path from 'node:path';
import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import { closeBullParts, tracked } from '../core/bull-close.js';
import type { Redis } from 'ioredis';
import { StratusError } from '../core/errors.js';
import type { ArtifactStore } from '../core/ports/artifact-store.js';
import { bullPrefix, createRedisClient } from '../core/redis-client.js';
import { StateLayout } from '../core/state-layout.js';
import { TERMINAL_BUILD_STATUSES, type BuildRecord, type BuildRequest } from '../core/types.js';
import { artifactKeys } from './artifact-keys.js';
import { BuildService, type BuildServiceOptions, type RunOutcome, type StopReason } from './build-service.js';

/**
 * A worker's lock on a build job. Short, so that a dead replica's build is taken over in seconds (5–10 s);
 * long enough that a renewal (every 2.5 s) is never missed by a busy event loop: a missed one stops the
 * build here ('lost') rather than running it twice.
 */
export const BUILD_LOCK_MS = 5000;
/** A build whose replica died this many times is taken over again; once more, and it fails (a build that kills its replica, say). */
const MAX_STALLS = 2;
/** How often each worker looks for jobs whose lock lapsed (one small Lua script on Redis). */
const STALLED_CHECK_MS = 2000;
/** An upload nobody builds (no build worker ever came) is forgotten after this long; its build then fails saying so. */
export const UPLOAD_TTL_MS = 24 * 3600_000;
/** How often a running build looks for its stop flag (a purge from any replica). */
const STOP_POLL_MS = 1000;
/** A stop flag outlives any build it could stop. */
const STOP_FLAG_MS = 24 * 3600_000;
/** How long a purge waits for a build another replica runs to stop, before removing what it built anyway. */
const PURGE_WAIT_MS = 30_000;

/** Thrown by a job whose lock another replica took: not a failure of the build. */
class LockLost extends Error {
  constructor() {
    super('the build job\'s lock was lost to another replica, which runs the build');
    this.name = 'LockLost';
  }
}

export interface BullBuildOptions extends BuildServiceOptions {
  redisUrl: string;
  /** The platform's Redis key prefix: the queue is `${prefix}bull:builds`, stop flags `${prefix}build-stop:ID`. */
  prefix: string;
  artifacts: ArtifactStore;
  /** False: this replica queues builds but runs none (no Docker engine on a cluster: no image could be built). */
  takesBuilds: boolean;
  maxUploadBytes: number;
  lockMs?: number;
}

/** What a build job carries: its request without the path, which is on the receiving replica's disk. */
type BuildJobData = Omit<BuildRequest, 'sourcePath'>;

export class BullBuildService extends BuildService {
  readonly #redis: Redis;
  readonly #queue: Queue<BuildJobData>;
  #worker: Worker<BuildJobData> | null = null;
  readonly #runs = new Map<string, { fn: string; stop: AbortController; done: Promise<RunOutcome> }>();
  readonly #lockMs: number;
  /** The processors running now: a stop waits for them (core/bull-close.ts), not for Redis. */
  readonly #running = new Set<Promise<unknown>>();

  constructor(private readonly b: BullBuildOptions) {
    super(b);
    this.#lockMs = b.lockMs ?? BUILD_LOCK_MS;
    this.#redis = createRedisClient(b.redisUrl, { name: 'stratus-builds', use: 'bullmq' });
    this.#queue = new Queue<BuildJobData>('builds', { connection: this.#redis, prefix: bullPrefix(b.prefix) });
    this.#queue.on('error', (err) => b.logger.warn('build queue: Redis error', { error: err.message }));
  }

  #stopKey(buildId: string): string {
    return `${this.b.prefix}build-stop:${buildId}`;
  }

  override async prepare(upload: Parameters<BuildService['prepare']>[0]): Promise<void> {
    // Checked here (a bad archive is this request's 4xx) but not kept: any replica may run the build, and
    // it unpacks the stored upload again rather than depend on this replica's disk.
    await super.prepare(upload);
    await super.discard(upload.buildId);
  }

  override async discard(buildId: string): Promise<void> {
    await super.discard(buildId);
    await this.b.artifacts.delete(artifactKeys.upload(buildId));
  }

  override async submit(request: BuildRequest): Promise<void> {
    if (this.closed) throw new StratusError('SHUTTING_DOWN', 'Stratus is shutting down; upload again in a moment');
    // Known to the queue (a retried request): nothing to store or add. A submit racing this one at worst
    // stores the same bytes twice, forgotten with their TTL; the add itself is idempotent by job id.
    if ((await this.#queue.getJobState(request.buildId)) !== 'unknown') return;
    const body = await fsp.readFile(request.sourcePath);
    if (body.length > this.b.maxUploadBytes) {
      throw new StratusError('PAYLOAD_TOO_LARGE', `the source is ${body.length} bytes, over STRATUS_MAX_UPLOAD_MB (${this.b.maxUploadBytes} bytes)`);
    }
    await this.b.artifacts.put(artifactKeys.upload(request.buildId), body, { ttlMs: UPLOAD_TTL_MS });
    // Stored: this replica's copy is needed by no build. Removed before the job exists, because the worker
    // that takes it — this replica's own, at once — writes the stored upload back into the same dir.
    const uploadDir = new StateLayout(this.b.stateDir).upload(request.buildId);
    if (path.dirname(request.sourcePath) === uploadDir) await fsp.rm(uploadDir, { recursive: true, force: true });
    const { sourcePath: _local, ...data } = request;
    await this.#queue.add(request.function, data, {
      jobId: request.buildId, attempts: 1,
      removeOnComplete: { age: 3600 }, removeOnFail: { age: 24 * 3600 },
    });
    if ((await this.#queue.getWorkersCount().catch(() => 1)) === 0) {
      await this.b.store.appendBuildLog(request.buildId, '[queued] no build worker is running: the build waits until a replica that can build images starts (one with a Docker engine, STRATUS_DOCKER_SOCKET)\n');
    }
  }

  override async recover(): Promise<void> {
    // The queue decides who runs what: a build it knows (waiting, running on another replica, or stalled
    // there and about to be taken over) is left alone. One it does not know was left by this platform's
    // in-process builder (before the queue) and is re-queued from this disk, or failed, as before.
    for (const b of await this.b.store.listUnfinishedBuilds()) {
      if ((await this.#queue.getJobState(b.id)) !== 'unknown') continue;
      if (b.builtBy !== undefined && b.builtBy !== this.platformId) continue;
      await this.recoverOne(b);
    }
    this.#start();
  }

  #start(): void {
    if (this.#worker || this.closed) return;
    if (!this.b.takesBuilds) {
      this.b.logger.info('this replica takes no builds (it cannot build images: no Docker engine); a build worker builds what it queues');
      return;
    }
    const worker = new Worker<BuildJobData>('builds', (job, token) => tracked(this.#running, () => this.#process(job, token)), {
      connection: this.#redis, prefix: bullPrefix(this.b.prefix), concurrency: this.b.concurrency,
      lockDuration: this.#lockMs, stalledInterval: Math.min(STALLED_CHECK_MS, this.#lockMs), maxStalledCount: MAX_STALLS,
    });
    worker.on('error', (err) => this.b.logger.warn('build worker: error', { error: err.message }));
    // Another replica may already run it: stop here, without a verdict, rather than build it twice.
    worker.on('lockRenewalFailed', (ids) => {
      for (const id of ids) this.#runs.get(id)?.stop.abort('lost' satisfies StopReason);
    });
    // A job that failed outside a build's own verdict — its replicas died more than maxStalledCount times
    // (BullMQ fails it on the next worker that takes it), or its bookkeeping threw — leaves a build record
    // that would say `building` forever. Not a job this replica lost (its move to failed is refused, which
    // BullMQ's worker may still report as failed): the replica that took it over builds it.
    worker.on('failed', (job, err) => {
      if (!job?.id || err instanceof LockLost) return;
      const why = /stalled/.test(err.message)
        ? `the build was started ${MAX_STALLS + 1} times and each time the replica running it stopped during it (killed, or out of memory?); upload the code again, or ask an operator to look at the build workers`
        : `the build stopped without a verdict (${err.message}); upload the code again`;
      void this.#failUnfinished(job.id, job.data, why)
        .catch((e: unknown) => this.b.logger.error('could not record a failed build job', { buildId: job.id, err: e }));
    });
    this.#worker = worker;
  }

  async #failUnfinished(buildId: string, data: BuildJobData, message: string): Promise<void> {
    const b = await this.b.store.getBuild(buildId);
    if (!b || TERMINAL_BUILD_STATUSES.includes(b.status)) return;
    await this.fail(buildId, data.function, data.version, message);
    await this.b.artifacts.delete(artifactKeys.upload(buildId));
  }

  async #process(job: Job<BuildJobData>, token: string | undefined): Promise<void> {
    const data = job.data;
    const id = data.buildId;
    if (this.closed) return this.#handBack(job, token);
    if ((await this.#redis.exists(this.#stopKey(id))) === 1) return; // purged before it ran
    const record = await this.b.store.getBuild(id);
    if (!record || TERMINAL_BUILD_STATUSES.includes(record.status)) {
      await this.b.artifacts.delete(artifactKeys.upload(id));
      return;
    }
    const body = await this.b.artifacts.get(artifactKeys.upload(id));
    if (!body) {
      await this.fail(id, data.function, data.version, `the upload is gone from the artifact store (it is kept ${UPLOAD_TTL_MS / 3600_000} h for a build worker to take it); upload the code again`);
      return;
    }
    // The name was sanitised when it was uploaded; one that is not a plain file name is not followed here.
    if (data.sourceName !== path.basename(data.sourceName) || data.sourceName === '..' || data.sourceName === '.') {
      await this.fail(id, data.function, data.version, 'the upload\'s file name is not a plain name; upload the code again');
      return;
    }
    await this.#claim(record);
    await this.#keepSource(data, body);
    const uploadDir = new StateLayout(this.b.stateDir).upload(id);
    await fsp.rm(uploadDir, { recursive: true, force: true });
    await fsp.mkdir(uploadDir, { recursive: true });
    const sourcePath = path.join(uploadDir, data.sourceName);
    await fsp.writeFile(sourcePath, body);

    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort('timeout' satisfies StopReason), this.b.timeoutMs);
    const poll = setInterval(() => {
      void this.#redis.exists(this.#stopKey(id)).then((n) => n === 1 && stop.abort('purged' satisfies StopReason), () => {});
    }, STOP_POLL_MS);
    const done = this.execute({ ...data, sourcePath }, stop.signal);
    this.#runs.set(id, { fn: data.function, stop, done });
    let outcome: RunOutcome;
    try {
      outcome = await done;
    } finally {
      clearTimeout(timer);
      clearInterval(poll);
      this.#runs.delete(id);
    }
    if (outcome === 'succeeded' || outcome === 'failed') {
      await this.b.artifacts.delete(artifactKeys.upload(id));
      return;
    }
    await fsp.rm(uploadDir, { recursive: true, force: true });
    if (outcome === 'purged') return;
    if (outcome === 'shutdown') return this.#handBack(job, token);
    // 'lost': the job is another replica's now; this one's result would be refused anyway.
    throw new LockLost();
  }

  /** Records this replica as the build's; a build another replica had started is said to be taken over. */
  async #claim(record: BuildRecord): Promise<void> {
    if (record.status !== 'queued') {
      const from = record.builtBy && record.builtBy !== this.platformId ? `replica ${record.builtBy}` : 'the replica that was building it';
      await this.b.store.appendBuildLog(record.id, `[queued] taken over by ${this.platformId}: ${from} stopped during the build; starting again from the stored upload\n`);
      // Its install container, when that replica was on this Docker engine, is no one's now.
      await this.b.runner.removeLeftovers?.(record.id);
    }
    if (record.builtBy !== this.platformId) await this.b.store.putBuild({ ...record, builtBy: this.platformId });
  }

  /** Back to the queue's wait list (this replica stops): another worker takes it at once, from the stored upload. */
  async #handBack(job: Job<BuildJobData>, token: string | undefined): Promise<never> {
    await job.moveToWait(token);
    throw new WaitingError();
  }

  /**
   * The upload as the version's kept source, for any replica (version-sources.ts reads it when its disk has
   * none). Kept before the build, as a failed build's source is kept too: its code is what the user fixes.
   */
  async #keepSource(data: BuildJobData, body: Buffer): Promise<void> {
    await this.b.artifacts.put(artifactKeys.sourceName(data.function, data.buildId), Buffer.from(data.sourceName));
    await this.b.artifacts.put(artifactKeys.source(data.function, data.buildId), body);
  }

  override async purge(functionName: string): Promise<void> {
    const { store } = this.b;
    const ids = new Set<string>();
    for (const v of await store.listVersions(functionName)) if (v.buildId) ids.add(v.buildId);
    for (const b of await store.listUnfinishedBuilds()) if (b.function === functionName) ids.add(b.id);
    // The flag stops the build on whichever replica runs it (it polls); a job still waiting is removed.
    for (const id of ids) {
      await this.#redis.set(this.#stopKey(id), 'purged', 'PX', STOP_FLAG_MS);
      await this.#queue.remove(id).catch(() => 0);
    }
    const here = [...this.#runs.values()].filter((r) => r.fn === functionName);
    for (const r of here) r.stop.abort('purged' satisfies StopReason);
    await Promise.all(here.map((r) => r.done.catch(() => {})));
    await this.#waitUntilStopped([...ids]);
    for (const id of ids) {
      await this.b.artifacts.delete(artifactKeys.upload(id));
      await this.b.artifacts.delete(artifactKeys.source(functionName, id));
      await this.b.artifacts.delete(artifactKeys.sourceName(functionName, id));
    }
    await this.b.purger.purge(functionName);
  }

  /** Until no job of `ids` is running on any replica (bounded: a replica that died holds its job until the lock lapses). */
  async #waitUntilStopped(ids: string[]): Promise<void> {
    const until = Date.now() + PURGE_WAIT_MS;
    for (const id of ids) {
      while ((await this.#queue.getJobState(id)) === 'active' && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    }
  }

  protected override async doClose(): Promise<void> {
    // The worker stops fetching first; each running build is stopped and handed back to the queue. The close
    // waits for the builds' own work, and for Redis only while it is there (core/bull-close.ts): with Redis
    // away a stop must not hang in BullMQ's close.
    const closing = closeBullParts({ worker: this.#worker, queue: this.#queue, connection: this.#redis, running: this.#running });
    for (const r of this.#runs.values()) r.stop.abort('shutdown' satisfies StopReason);
    await closing;
    await super.doClose();
    this.#redis.disconnect(); // no QUIT: with Redis away it would wait for a reconnect
  }
}
