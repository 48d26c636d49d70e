// A cold start of one function version: specialize a stem when the version has a code tree and a stem
// is ready (claim → memory limit, when it differs, beside stage code → POST /init), otherwise create a container from the
// version's image. A stem that refuses the code (4xx on /init) is stopped and the start falls back to a
// new container, so a bad stem costs time, never the request. Phase durations feed the cold-start metric.

import { StratusError } from '../core/errors.js';
import type { Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { DeployedVersion } from '../core/types.js';
import type { Backend, InstanceHandle } from './backends/backend.js';
import { Instance } from './instance.js';
import { effectiveHandler, functionSpec } from './instance-spec.js';
import { postInit } from './runtime-client.js';
import type { StemPool } from './stem-pool.js';

export interface ColdStart {
  instance: Instance;
  kind: 'stem' | 'container';
  /** Milliseconds per phase: claim, init (stem); create (container). */
  phases: Record<string, number>;
}

export class InstanceStarter {
  /** New containers being started right now (stem refills wait for them: see StemPoolSettings.holdRefill). */
  containerStarts = 0;

  constructor(
    private readonly backend: Backend,
    private readonly stems: StemPool,
    private readonly clock: Clock,
    private readonly startTimeoutMs: number,
    private readonly log: Logger,
  ) {}

  /** avoidStems: a version in crash-loop backoff is probed with a container of its own; a stem it breaks costs a refill too. */
  async start(v: DeployedVersion, signal: AbortSignal, opts: { avoidStems?: boolean } = {}): Promise<ColdStart> {
    const runtime = v.config.runtime;
    // A stem has a network interface that cannot be taken away: network 'none' starts its own container.
    // A backend that cannot resize a running instance: a stem only fits a version with the pool's own limits.
    const fits = this.backend.resizesInstances !== false || (v.config.memoryMb === this.stems.memoryMb && (v.config.cpus ?? null) === null);
    if (v.artifactDir && runtime && this.stems.enabled && v.config.network !== 'none' && !opts.avoidStems && fits) {
      const t0 = this.clock.now();
      const stem = this.stems.claim(runtime);
      const claimMs = this.clock.now() - t0;
      if (stem) {
        const specialized = await this.#specialize(stem, v, v.artifactDir, signal);
        this.stems.fill(runtime); // after, not during: see StemPool.claim
        if (specialized) return { instance: specialized.instance, kind: 'stem', phases: { claim: claimMs, init: specialized.initMs } };
      } else {
        this.stems.fill(runtime);
      }
    }
    return this.#createContainer(v, signal);
  }

  async #specialize(stem: InstanceHandle, v: DeployedVersion, artifactDir: string, signal: AbortSignal): Promise<{ instance: Instance; initMs: number } | null> {
    const t0 = this.clock.now();
    // The stem keeps its backend identity; from here on it serves this version.
    const handle: InstanceHandle = { ...stem, role: 'function', function: v.function, version: v.version };
    const instance = new Instance(handle, v.config.concurrency, 'stem');
    try {
      if (signal.aborted) throw signal.reason;
      // `docker update` of the memory limit costs 10-20 ms: skipped when the stem already has the
      // function's limit, and otherwise run beside staging and /init — except when it raises the limit,
      // which goes first so that the code's own start-up has the room the function was given.
      const limit = v.config.memoryMb;
      const cpus = v.config.cpus ?? null;
      const memory = limit === this.stems.memoryMb && cpus === null ? null : this.backend.setLimits(stem.instanceId, { memoryMb: limit, cpus });
      if (memory && limit > this.stems.memoryMb) await memory;
      const load = this.#load(instance, v, artifactDir);
      await Promise.all([memory, load]);
      return { instance, initMs: this.clock.now() - t0 };
    } catch (err) {
      this.log.warn('stem could not load the code; falling back to a new container', { function: v.function, version: v.version, stem: stem.instanceId, err });
      instance.dispose();
      await this.backend.stop(stem.instanceId).catch((e: unknown) => this.log.warn('stopping a failed stem failed', { stem: stem.instanceId, err: e }));
      return null;
    }
  }

  async #load(instance: Instance, v: DeployedVersion, artifactDir: string): Promise<void> {
    // The specialized handle (role function, its version): a backend that records it lets a restarted
    // platform adopt this instance instead of removing it as a stem (its labels still say stem).
    const code = await this.backend.stageCode(instance.handle, artifactDir);
    const payload = { ...code, handler: effectiveHandler(v) ?? '', function: v.function, version: v.version, env: v.config.env, concurrency: v.config.concurrency };
    const res = await postInit(instance.requestOptions, instance.agent, payload, this.startTimeoutMs);
    if (res.status !== 200) throw new Error(`POST /init answered ${res.status}: ${res.body.slice(0, 500)}`);
  }

  async #createContainer(v: DeployedVersion, signal: AbortSignal): Promise<ColdStart> {
    if (!v.image && !v.artifactDir) {
      throw new StratusError('INSTANCE_START_FAILED', `version ${v.version} of ${v.function} has neither an image nor a code tree to run; deploy it again`);
    }
    const t0 = this.clock.now();
    this.containerStarts++;
    const handle = await this.backend.start(functionSpec(v), signal).finally(() => {
      if (--this.containerStarts === 0) this.stems.fill();
    });
    return { instance: new Instance(handle, v.config.concurrency, 'container'), kind: 'container', phases: { create: this.clock.now() - t0 } };
  }
}
