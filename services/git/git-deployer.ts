// A push that passed the hook's checks → fetch its commit, pack the function's folder, and hand it to the
// same path an upload takes (FunctionService.deployUpload with the function's current config): unpacking,
// checks, image, push, load check and rollout are the upload's.
//
// Versions follow the pushes: a slow fetch of an older push must not become a newer version than a later
// push's. Each hook takes a ticket from the store when it arrives (platform-wide: replicas on one Redis
// share the counter), and a push takes its version number in its turn — in one atomic step with the check
// that no push with a later ticket has taken one already (Store.nextVersionInTurn). An older push arriving
// late (its fetch was slower, or another replica got the later hook) is skipped, with that reason in its
// answer and the log. Within a process, pushes of one function also run one after the other in the order
// their hooks arrived, so one replica never skips its own pushes. A commit already queued here, or already
// the function's newest version built from the same config, is not built again (a forge's redelivery; a
// redelivery to another replica is caught by the hook's delivery lease).
// A commit that is an older version of the function is refused (409): a redelivered or replayed old push
// would otherwise make old code the newest version. The caller may ask for it (`redeploy`).
//
// The URL a hook names (no pinned repository) is resolved and checked right before the fetch, and git
// connects to the addresses checked then (fetch-target.ts); the hook's own answer checked it too.

import fsp from 'node:fs/promises';
import path from 'node:path';
import { redactUrl } from '../../core/config.js';
import type { FunctionConfig } from '../../core/function-config.js';
import type { GitSettings } from '../../core/git-settings.js';
import type { Logger } from '../../core/log.js';
import type { Store } from '../../core/store/store.js';
import type { AddressPolicy } from '../../core/ip-policy.js';
import type { Origin } from '../../core/types.js';
import { StratusError } from '../../core/errors.js';
import { TurnPassed, type DeployResult, type Deployer } from '../../core/ports/deployer.js';
import { newBuildId } from '../../core/ids.js';
import { StateLayout } from '../../core/state-layout.js';
import { fetchCommit, type GitFetchOptions, type PinnedTarget } from './fetch.js';
import { checkedTarget, type Lookup } from './fetch-target.js';
import { functionRoot, packDirectory, type PackLimits } from './pack.js';
import { skipReason, type PushEvent } from './push-event.js';
import { repositoryToFetch } from './repository.js';

export interface GitDeployerOptions {
  service: Deployer;
  store: Pick<Store, 'getFunction' | 'getVersion' | 'listVersions' | 'takePushTicket' | 'nextVersionInTurn'>;
  stateDir: string;
  /** Which addresses a URL from a hook may reach, and the resolver that finds them. */
  addresses: { policy: AddressPolicy; lookup: Lookup };
  fetch: GitFetchOptions;
  limits: PackLimits;
  logger: Logger;
}

export interface GitPush {
  function: string;
  event: PushEvent;
  /** The caller asked for a commit that is an older version (or the newest) to be built again. */
  redeploy?: boolean;
}

/** What the settings let this push be fetched from: the URL, and for a hook's URL the checked addresses. */
interface Source {
  url: string;
  target: (PinnedTarget & { addresses: string[] }) | undefined;
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
    return new StateLayout(this.o.stateDir).git;
  }

  deploy(push: GitPush): Promise<GitDeployResult> {
    const commit = push.event.after;
    const key = `${push.function}@${commit}`;
    if (this.#pending.has(key)) return Promise.resolve({ skipped: `commit ${commit} is already being fetched or queued for ${push.function}`, commit });
    this.#pending.add(key);
    // The ticket is asked for now, as the hook arrives; the push waits for it in its turn.
    const ticket = this.o.store.takePushTicket(push.function);
    ticket.catch(() => {}); // its failure is the push's, when #run awaits it
    const previous = this.#queues.get(push.function) ?? Promise.resolve();
    const run = previous.then(() => this.#run(push, ticket)).finally(() => this.#pending.delete(key));
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

  /** Waits for the pushes being fetched or queued (a stop lets them finish, as it lets builds finish). */
  async close(): Promise<void> {
    while (this.#queues.size > 0) await Promise.allSettled([...this.#queues.values()]);
  }

  /**
   * The refusals a hook is answered with at once, before the push waits its turn: the repository or its
   * addresses refused (403), the commit an older version (409). #run decides them again at its turn.
   */
  async admit(push: GitPush, settings: GitSettings, latestVersion: number): Promise<void> {
    await this.#source(settings, push.event);
    await this.#refuseOlder(push, latestVersion);
  }

  async #source(settings: GitSettings, event: PushEvent): Promise<Source> {
    const url = repositoryToFetch(settings, event);
    // A pinned repository is the owner's (set with the admin key, like file:// URLs of this host): trusted.
    if (settings.repository !== undefined) return { url, target: undefined };
    const target = await checkedTarget(url, this.o.addresses.policy, this.o.addresses.lookup);
    return { url: target.url, target };
  }

  /** CONFLICT when the commit is a version of the function other than its newest, unless asked for. */
  async #refuseOlder(push: GitPush, latestVersion: number): Promise<void> {
    if (push.redeploy) return;
    const commit = push.event.after;
    const newest = latestVersion > 0 ? await this.o.store.getVersion(push.function, latestVersion) : null;
    if (newest?.origin?.kind === 'git' && newest.origin.commit === commit) return; // the newest: #alreadyBuilt's call
    const older = (await this.o.store.listVersions(push.function)).filter((v) => v.origin?.kind === 'git' && v.origin.commit === commit).map((v) => v.version);
    if (older.length === 0) return;
    throw new StratusError(
      'CONFLICT',
      `commit ${commit} is already version ${Math.max(...older)} of ${push.function}, older than its newest version ${latestVersion}: a redelivered or replayed old push does not make old code the newest version. To serve that version again, roll back (POST /v1/functions/${push.function}/rollback {"version":${Math.max(...older)}}); to build the commit as a new version, post the hook with ?redeploy=true`,
      { function: push.function, field: 'after', version: Math.max(...older) },
    );
  }

  async #run(push: GitPush, ticketTaken: Promise<number>): Promise<GitDeployResult> {
    await this.#swept;
    const ticket = await ticketTaken;
    const commit = push.event.after;
    // The config as it is now (a PATCH may have come while this push waited for the one before).
    const fn = await this.o.store.getFunction(push.function);
    const config = fn?.config;
    if (!fn || !config?.git) return { skipped: `${push.function} was deleted or lost its git settings while the push waited`, commit };
    // Decided again on these settings: the hook's answer used the ones it read.
    const skipped = skipReason(config.git, push.event);
    if (skipped) return { skipped, commit };
    await this.#refuseOlder(push, fn.latestVersion);
    const built = push.redeploy ? null : await this.#alreadyBuilt(fn.latestVersion, push.function, commit, config);
    if (built) return { skipped: built, commit };
    // Resolved and checked now, right before git connects to what was checked.
    const { url, target } = await this.#source(config.git, push.event);

    const buildId = newBuildId();
    const state = new StateLayout(this.o.stateDir);
    const work = state.gitFetch(buildId);
    const uploadDir = state.upload(buildId);
    const settings: GitSettings = config.git;
    try {
      if (target) this.o.logger.debug('fetching from a hook\'s clone URL', { function: push.function, repository: redactUrl(url), addresses: target.addresses });
      const fetched = await fetchCommit(url, commit, settings.branch, work, this.o.fetch, target);
      const root = await functionRoot(fetched.dir, settings.directory, commit);
      await fsp.mkdir(uploadDir, { recursive: true });
      const source = path.join(uploadDir, SOURCE_NAME);
      await packDirectory(root, source, this.o.limits);
      await fsp.rm(work, { recursive: true, force: true }); // the checkout is not needed by the build
      const origin: Origin = { kind: 'git', commit, message: fetched.message, ref: push.event.ref, repository: redactUrl(url) };
      const result = await this.o.service.deployUpload(config, buildId, { path: source, name: SOURCE_NAME }, origin, () => this.#versionInTurn(push.function, commit, ticket));
      this.o.logger.info('git push queued a build', { function: push.function, commit, buildId, version: result.version, repository: origin.repository, push: ticket });
      return { ...result, commit };
    } catch (err) {
      await fsp.rm(uploadDir, { recursive: true, force: true });
      if (!(err instanceof TurnPassed)) throw err;
      this.o.logger.info('git push skipped: a later push of the function deployed first', { function: push.function, commit, push: ticket, reason: err.message });
      return { skipped: err.message, commit };
    } finally {
      await fsp.rm(work, { recursive: true, force: true });
    }
  }

  /** The version of push `ticket`, unless a later push took one first (TurnPassed, saying which). */
  async #versionInTurn(fn: string, commit: string, ticket: number): Promise<number> {
    const turn = await this.o.store.nextVersionInTurn(fn, ticket);
    if (!('passedBy' in turn)) return turn.version;
    throw new TurnPassed(
      `commit ${commit} is push #${ticket} of ${fn}, and push #${turn.passedBy}, which came later, became version ${turn.version} first (fetched sooner, here or on another replica): an older push arriving late does not become a newer version. To build this commit anyway, post its hook again with ?redeploy=true`,
    );
  }

  /** Why `commit` needs no new build: the function's newest version is it, with this config, not failed. */
  async #alreadyBuilt(latest: number, fn: string, commit: string, config: FunctionConfig): Promise<string | null> {
    const v = latest > 0 ? await this.o.store.getVersion(fn, latest) : null;
    if (!v || v.origin?.kind !== 'git' || v.origin.commit !== commit || v.status === 'failed') return null;
    if (JSON.stringify(v.config) !== JSON.stringify(config)) return null;
    return `commit ${commit} is version ${v.version} of ${fn} already (${v.status})`;
  }
}
