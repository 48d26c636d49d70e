// Reconciliation with what an earlier run left behind (found by the backend's labels), at start-up. An
// instance goes only on positive evidence: a stem (generic and cheap to recreate; a specialized one is
// listed as its function's), or an instance of a version other than the one the store names current. A
// function the store names no current version for counts as deleted only when `storeRemembers`: the
// store outlived the earlier run and holds its functions. A fresh in-memory store or an emptied Redis
// knows nothing, and its silence must not stop running functions: theirs are left running, unserved, and
// named in a warning (a later start with the store back adopts or removes them).

import type { Logger } from '../core/log.js';
import type { DeployedVersion } from '../core/types.js';
import type { InstanceHandle } from './backends/backend.js';
import type { SchedulerDeps } from './scheduler-deps.js';

export interface Leftovers {
  /** Ids of the instances the scheduler already holds: not leftovers. */
  known: ReadonlySet<string>;
  /** Takes a leftover of the current version into that version's pool; false when it cannot (closing). */
  adopt(handle: InstanceHandle, version: DeployedVersion): boolean;
  /** Stops and removes a leftover. */
  remove(instanceId: string): void;
}

export async function reconcileLeftovers(
  deps: Pick<SchedulerDeps, 'backend' | 'lookupVersion' | 'currentVersion'>,
  scheduler: Leftovers,
  log: Logger,
  opts: { storeRemembers?: boolean; found?: InstanceHandle[] },
): Promise<void> {
  const found = opts.found ?? (await deps.backend.list());
  const current = new Map<string, number | null>();
  const unvouched: string[] = [];
  for (const h of found) {
    if (scheduler.known.has(h.instanceId)) continue;
    let adopted = false;
    if (h.role === 'function' && h.function !== null && h.version !== null) {
      if (!current.has(h.function)) current.set(h.function, await deps.currentVersion(h.function));
      const cur = current.get(h.function) ?? null;
      if (cur === null && opts.storeRemembers !== true) {
        unvouched.push(`${h.instanceId} (${h.function} v${h.version})`);
        continue;
      }
      const v = cur === h.version ? await deps.lookupVersion(h.function, h.version) : null;
      adopted = v !== null && scheduler.adopt(h, v);
    }
    log.info(adopted ? 'adopted an instance left by an earlier run' : 'removing an instance left by an earlier run', { instance: h.instanceId, role: h.role, function: h.function, version: h.version });
    if (!adopted) scheduler.remove(h.instanceId);
  }
  if (unvouched.length > 0) {
    log.warn(
      `left ${unvouched.length} instance(s) of an earlier run running: the store knows none of their functions, and it ` +
        'does not remember earlier runs (in-memory, or empty), so that is no proof they were deleted. They serve nothing ' +
        'until the store has their functions back; remove them by hand if they are gone for good',
      { instances: unvouched },
    );
  }
}
