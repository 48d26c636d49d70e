// A push that passed the hook's checks → fetch its commit, pack the function's folder, and hand it to the
// same path an upload takes (FunctionService.deployUpload with the function's current config): unpacking,
// checks, image, push, load check and rollout are the upload's.
//
// Pushes of one function run one after the other, in the order their hooks arrived, so versions follow
// the pushes (a slow fetch of an older push cannot become a newer version than a later one). A commit
// already queued here, or already the function's newest version built from the same config, is not built
// again (a forge's redelivery). Both hold per Stratus process: replicas sharing a Redis order their own.

import { randomUUID } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { redactUrl } from '../../core/config.js';
import type { FunctionConfig } from '../../core/function-config.js';
import type { GitSettings } from '../../core/git-settings.js';
import type { Logger } from '../../core/log.js';
import type { Store } from '../../core/store/store.js';
import type { Origin } from '../../core/types.js';
import type { DeployResult, FunctionService } from '../function-service.js';
import { fetchCommit, type GitFetchOptions } from './fetch.js';
import { functionRoot, packDirectory, type PackLimits } from './pack.js';
import { skipReason, type PushEvent } from './push-event.js';
import { repositoryToFetch } from './repository.js';

export interface GitDeployerOptions {
  service: Pick<FunctionService, 'deployUpload'>;
  store: Pick<Store, 'getFunction' | 'getVersion'>;
  stateDir: string;
  fetch: GitFetchOptions;
  limits: PackLimits;
  logger: Logger;
}

export interface GitPush {
  function: string;
  event: PushEvent;
}

export type GitDeployResult = (DeployResult & { commit: string }) | { skipped: string; commit: string };

const SOURCE_NAME = 'source.tar.gz';

export class GitDeployer {
  readonly #queues = new Map<string, Promise<void>>();
  readonly #pending = new Set<string>();
  /** Fetch dirs a killed Stratus left behind; each fetch waits for this sweep. */
  readonly #swept: Promise<void>;

  constructor(private readonly o: GitDeployerOptions) {
    this.#swept = fsp.rm(this.#root, { recursive: true, force: true }).catch(() => {});
  }

  get #root(): string {
    return path.join(this.o.stateDir, 'git');
  }

  deploy(push: GitPush): Promise<GitDeployResult> {
    const commit = push.event.after;
    const key = `${push.function}@${commit}`;
    if (this.#pending.has(key)) return Promise.resolve({ skipped: `commit ${commit} is already being fetched or queued for ${push.function}`, commit });
    this.#pending.add(key);
    const previous = this.#queues.get(push.function) ?? Promise.resolve();
    const run = previous.then(() => this.#run(push)).finally(() => this.#pending.delete(key));
    const tail = run.then(
      () => {},
      () => {},
    );
    this.#queues.set(push.function, tail);
    void tail.then(() => {
      if (this.#queues.get(push.function) === tail) this.#queues.delete(push.function);
    });
    return run;
  }

  async #run(push: GitPush): Promise<GitDeployResult> {
    await this.#swept;
    const commit = push.event.after;
    // The config as it is now (a PATCH may have come while this push waited for the one before).
    const fn = await this.o.store.getFunction(push.function);
    const config = fn?.config;
    if (!fn || !config?.git) return { skipped: `${push.function} was deleted or lost its git settings while the push waited`, commit };
    // Decided again on these settings: the hook's answer used the ones it read.
    const skipped = skipReason(config.git, push.event);
    if (skipped) return { skipped, commit };
    const url = repositoryToFetch(config.git, push.event);
    const built = await this.#alreadyBuilt(fn.latestVersion, push.function, commit, config);
    if (built) return { skipped: built, commit };

    const buildId = randomUUID();
    const work = path.join(this.#root, buildId);
    const uploadDir = path.join(this.o.stateDir, 'uploads', buildId);
    const settings: GitSettings = config.git;
    try {
      const fetched = await fetchCommit(url, commit, settings.branch, work, this.o.fetch);
      const root = await functionRoot(fetched.dir, settings.directory, commit);
      await fsp.mkdir(uploadDir, { recursive: true });
      const source = path.join(uploadDir, SOURCE_NAME);
      await packDirectory(root, source, this.o.limits);
      await fsp.rm(work, { recursive: true, force: true }); // the checkout is not needed by the build
      const origin: Origin = { kind: 'git', commit, message: fetched.message, ref: push.event.ref, repository: redactUrl(url) };
      const result = await this.o.service.deployUpload(config, buildId, { path: source, name: SOURCE_NAME }, origin);
      this.o.logger.info('git push queued a build', { function: push.function, commit, buildId, version: result.version, repository: origin.repository });
      return { ...result, commit };
    } catch (err) {
      await fsp.rm(uploadDir, { recursive: true, force: true });
      throw err;
    } finally {
      await fsp.rm(work, { recursive: true, force: true });
    }
  }

  /** Why `commit` needs no new build: the function's newest version is it, with this config, not failed. */
  async #alreadyBuilt(latest: number, fn: string, commit: string, config: FunctionConfig): Promise<string | null> {
    const v = latest > 0 ? await this.o.store.getVersion(fn, latest) : null;
    if (!v || v.origin?.kind !== 'git' || v.origin.commit !== commit || v.status === 'failed') return null;
    if (JSON.stringify(v.config) !== JSON.stringify(config)) return null;
    return `commit ${commit} is version ${v.version} of ${fn} already (${v.status})`;
  }
}
