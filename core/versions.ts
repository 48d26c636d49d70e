// A version record as what runs (DeployedVersion), and lookups of it in the store: the scheduler adopts
// instances after a restart with them; the route cache, served versions and releases turn records into it.

import type { Store } from './store/store.js';
import type { DeployedVersion, VersionRecord } from './types.js';

export function toDeployed(v: VersionRecord): DeployedVersion {
  return { function: v.function, version: v.version, config: v.config, image: v.image, artifactDir: v.artifactDir, handler: v.handler ?? null };
}

export function deployedVersionLookup(store: Store) {
  return {
    async lookup(fn: string, version: number): Promise<DeployedVersion | null> {
      const v = await store.getVersion(fn, version);
      return v && v.status === 'ready' ? toDeployed(v) : null;
    },
    async current(fn: string): Promise<number | null> {
      return (await store.getFunction(fn))?.currentVersion ?? null;
    },
  };
}
