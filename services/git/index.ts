// The git-push service in the shape every side service has: createGitService(deps) → { …, close() }.
// It fetches a pushed commit (over the address policy: core/ip-policy.ts), packs the function's directory
// and deploys it through the deploy port (core/ports/deployer.ts) like an upload. The HTTP door — the
// forge's webhook, its signature and payload — is gateway/api/routes/git-hooks.ts, which is given this.

import type { Config } from '../../core/config.js';
import { AddressPolicy } from '../../core/ip-policy.js';
import type { Logger } from '../../core/log.js';
import type { Deployer } from '../../core/ports/deployer.js';
import type { Store } from '../../core/store/store.js';
import { systemLookup, type Lookup } from './fetch-target.js';
import { GitDeployer } from './git-deployer.js';

/** init + fetch + checkout of one commit. */
export const GIT_FETCH_TIMEOUT_MS = 120_000;

export interface GitServiceDeps {
  deployer: Deployer;
  store: Pick<Store, 'getFunction' | 'getVersion' | 'listVersions' | 'takePushTicket' | 'nextVersionInTurn'>;
  config: Pick<Config, 'stateDir' | 'build' | 'backend' | 'git'>;
  logger: Logger;
  fetchTimeoutMs?: number;
  /** The resolver for clone URLs' host names (tests map names of their own). */
  lookup?: Lookup;
}

export type GitService = Pick<GitDeployer, 'admit' | 'deploy' | 'close'>;

export function createGitService(deps: GitServiceDeps): GitService {
  const { build, backend, stateDir } = deps.config;
  return new GitDeployer({
    service: deps.deployer,
    store: deps.store,
    stateDir,
    // git gets PATH, the locale and the machine's proxy settings, nothing else of the host's environment.
    fetch: { env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...pickEnv(backend.processBaseEnv, /^(PATH|LANG)$/), ...pickEnv(build.installEnv, /_proxy$/i) }, timeoutMs: deps.fetchTimeoutMs ?? GIT_FETCH_TIMEOUT_MS },
    limits: { maxPackedBytes: build.maxUploadBytes, maxUnpackedBytes: build.maxUnpackedBytes, maxEntries: build.maxEntries },
    addresses: { policy: new AddressPolicy(deps.config.git.allowedNetworks), lookup: deps.lookup ?? systemLookup },
    logger: deps.logger.child({ component: 'git' }),
  });
}

function pickEnv(env: Record<string, string>, name: RegExp): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => name.test(k)));
}
