// What the pools ask of the scheduler (PoolHost), kept apart from the Scheduler's public face: start an
// instance (bounded by the start timeout, counted in the cold-start metrics), stop one, check or recycle
// one after a troubled request, and the dispatch metric. It remembers the starts and stops under way so
// that close() can abort and wait for them. PoolScheduler holds it privately and hands it to its pools:
// no caller of the Scheduler can start, stop or mark an instance, or flip the closing flag.

import { StratusError } from '../core/errors.js';
import type { Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { DeployedVersion } from '../core/types.js';
import type { InstanceExit } from './backends/backend.js';
import type { ColdStart, InstanceStarter } from './instance-starter.js';
import type { Instance } from './instance.js';
import { isHealthy } from './runtime-client.js';
import type { LeaseOutcome } from './scheduler.js';
import type { SchedulerDeps } from './scheduler-deps.js';
import type { PoolHost, StartOptions, VersionPool } from './version-pool.js';

const DIAGNOSE_SETTLE_MS = 1000;
const DIAGNOSE_POLL_MS = 25;

const noop = (): void => {};

export class InstanceKeeper implements PoolHost {
  readonly clock: Clock;
  readonly queueDepth: number;
  readonly queueTimeoutMs: number;
  #closing = false;
  readonly #starts = new Set<Promise<unknown>>();
  readonly #aborts = new Set<AbortController>();
  readonly #stops = new Set<Promise<void>>();

  constructor(
    private readonly deps: Pick<SchedulerDeps, 'backend' | 'clock' | 'settings' | 'metrics'>,
    private readonly starter: InstanceStarter,
    private readonly log: Logger,
  ) {
    this.clock = deps.clock;
    this.queueDepth = deps.settings.queueDepth;
    this.queueTimeoutMs = deps.settings.queueTimeoutMs;
  }

  get closing(): boolean {
    return this.#closing;
  }

  start(target: DeployedVersion, opts: StartOptions = {}): Promise<ColdStart> {
    const abort = new AbortController();
    this.#aborts.add(abort);
    const { startTimeoutMs } = this.deps.settings;
    const timer = setTimeout(() => abort.abort(new StratusError('INSTANCE_START_FAILED', `an instance of ${target.function} did not become ready within ${startTimeoutMs} ms`)), startTimeoutMs);
    const { signal } = opts;
    const giveUp = () => abort.abort(signal?.reason);
    if (signal?.aborted) giveUp();
    else signal?.addEventListener('abort', giveUp, { once: true });
    const p = this.starter.start(target, abort.signal, opts).then(
      (cs) => {
        this.deps.metrics?.coldStarts.inc({ function: target.function, kind: cs.kind });
        for (const [phase, ms] of Object.entries(cs.phases)) this.deps.metrics?.coldStartPhaseSeconds.observe({ kind: cs.kind, phase }, ms / 1000);
        this.log.debug('instance started', { instance: cs.instance.id, function: target.function, version: target.version, kind: cs.kind, phases: cs.phases });
        return cs;
      },
      (err: unknown) => {
        // A load check's failure is the build's: its log has the runtime's words.
        if (!this.#closing) this.log[opts.probe ? 'info' : 'error'](opts.probe ? 'load check start failed' : 'instance start failed', { function: target.function, version: target.version, err });
        throw err;
      },
    );
    const done = p.finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', giveUp);
      this.#aborts.delete(abort);
    });
    const settled = done.then(noop, noop);
    this.#starts.add(settled);
    void settled.then(() => this.#starts.delete(settled));
    return done;
  }

  stop(inst: Instance): void {
    inst.state = 'stopping';
    inst.dispose();
    this.stopById(inst.id);
  }

  /** Stops a backend instance no pool holds (an exited stem, a leftover of an earlier run); close() waits for it. */
  stopById(instanceId: string): void {
    const t = this.deps.backend
      .stop(instanceId)
      .catch((err: unknown) => this.log.warn('stopping an instance failed', { err }))
      .finally(() => this.#stops.delete(t));
    this.#stops.add(t);
  }

  troubled(pool: VersionPool, inst: Instance, outcome: LeaseOutcome): void {
    if (outcome === 'timeout') {
      void isHealthy(inst.requestOptions, this.deps.settings.healthTimeoutMs ?? 2000).then((ok) => {
        if (ok || inst.state === 'stopping') return;
        this.log.warn('instance did not answer its health check after a timed-out request; replacing it', { instance: inst.id, function: pool.target.function });
        pool.remove(inst);
      });
      return;
    }
    // Crashed: take no new requests on it; learn why for the log, then replace it.
    if (inst.state === 'ready') inst.state = 'draining';
    void this.deps.backend
      .diagnose(inst.id)
      .catch(() => null)
      .then((exit) => {
        this.log.warn('instance failed a request; removing it', { instance: inst.id, function: pool.target.function, exit });
        pool.remove(inst); // a request's crash is its caller's 502, not a crash loop: no backoff
      });
  }

  /**
   * Why a request on this instance failed. A reset connection usually comes a moment before the
   * backend sees the instance gone (an OOM kill is only recorded once the container has exited), so a
   * live-looking instance is asked again for up to DIAGNOSE_SETTLE_MS before calling it alive.
   */
  async diagnose(inst: Instance): Promise<{ reason: InstanceExit['reason']; exitCode: number | null } | null> {
    for (let waited = 0; ; waited += DIAGNOSE_POLL_MS) {
      const exit = await this.deps.backend.diagnose(inst.id);
      if (exit) return { reason: exit.reason, exitCode: exit.exitCode };
      if (waited >= DIAGNOSE_SETTLE_MS) return null;
      await new Promise((resolve) => setTimeout(resolve, DIAGNOSE_POLL_MS));
    }
  }

  dispatched(pool: VersionPool, waitedMs: number): void {
    this.deps.metrics?.dispatchSeconds.observe({ function: pool.target.function }, waitedMs / 1000);
  }

  /** close(), first step: from here on pools start nothing and stop what finishes starting. */
  beginClose(): void {
    this.#closing = true;
  }

  /** close(): abort the starts under way and wait until each has settled. */
  async abortStarts(reason: unknown): Promise<void> {
    for (const a of this.#aborts) a.abort(reason);
    await Promise.allSettled([...this.#starts]);
  }

  /** Resolves once every stop asked for so far (and those they lead to) has finished. */
  async stopsSettled(): Promise<void> {
    while (this.#stops.size > 0) await Promise.allSettled([...this.#stops]);
  }
}
