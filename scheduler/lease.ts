// The Lease a VersionPool hands out: one slot on one instance until release(). A class rather than an
// object literal of closures, because one is made per warm request: the prototype carries the methods.

import type { ColdStart } from './instance-starter.js';
import type { Instance } from './instance.js';
import type { Lease, LeaseOutcome, StartKind } from './scheduler.js';

/** What a lease calls back into: the pool that owns the instance. */
export interface LeaseOwner {
  releaseSlot(inst: Instance, outcome: LeaseOutcome): void;
  diagnoseInstance(inst: Instance): ReturnType<Lease['diagnose']>;
}

export class PoolLease implements Lease {
  readonly instance: Lease['instance'];
  readonly agent: Lease['agent'];
  readonly requestOptions: Lease['requestOptions'];
  readonly coldStart: Lease['coldStart'];
  #released = false;

  constructor(
    private readonly owner: LeaseOwner,
    private readonly inst: Instance,
    readonly start: StartKind,
    cs: ColdStart | null,
  ) {
    this.instance = inst.handle;
    this.agent = inst.agent;
    this.requestOptions = inst.requestOptions;
    this.coldStart = cs ? { kind: cs.kind, phases: cs.phases } : undefined;
  }

  release(outcome: LeaseOutcome): void {
    if (this.#released) return;
    this.#released = true;
    this.owner.releaseSlot(this.inst, outcome);
  }

  diagnose(): ReturnType<Lease['diagnose']> {
    return this.owner.diagnoseInstance(this.inst);
  }
}
