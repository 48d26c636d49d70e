// A Scheduler fake for gateway tests: every lease points at one endpoint the test serves itself (a tiny
// HTTP server on a unix socket), and records what the gateway asked for and how it released.

import http from 'node:http';
import type { ExitReason, Endpoint } from '../../scheduler/backends/backend.js';
import type { DeployedVersion } from '../../core/types.js';
import type { AcquireOptions, FailingView, InstanceView, Lease, LeaseOutcome, Scheduler, StartKind } from '../../scheduler/scheduler.js';

export class FakeScheduler implements Scheduler {
  readonly acquired: Array<{ target: DeployedVersion; opts: AcquireOptions }> = [];
  readonly releases: LeaseOutcome[] = [];
  readonly retired: Array<{ name: string; keepVersion: number | undefined }> = [];
  readonly prewarmed: DeployedVersion[] = [];
  /** What diagnose() answers after a failed request. */
  diagnosis: { reason: ExitReason; exitCode: number | null } | null = null;
  /** Throw this from acquire (e.g. a 429 StratusError) instead of leasing. */
  acquireError: Error | null = null;
  start: StartKind = 'warm';
  readonly agent = new http.Agent({ keepAlive: true });

  constructor(private readonly endpoint: Endpoint) {}

  async acquire(target: DeployedVersion, opts: AcquireOptions): Promise<Lease> {
    this.acquired.push({ target, opts });
    if (this.acquireError) throw this.acquireError;
    const releases = this.releases;
    const diagnosis = () => this.diagnosis;
    return {
      instance: { instanceId: 'i-1', role: 'function', runtime: 'node', function: target.function, version: target.version, endpoint: this.endpoint, backendRef: 'fake', startedAt: 0 },
      agent: this.agent,
      start: this.start,
      requestOptions: this.endpoint.kind === 'unix' ? { socketPath: this.endpoint.socketPath } : { host: this.endpoint.host, port: this.endpoint.port },
      ...(this.start === 'warm' ? {} : { coldStart: { kind: this.start, phases: { create: 1 } } }),
      release: (outcome) => void releases.push(outcome),
      diagnose: async () => diagnosis(),
    };
  }

  readonly probed: DeployedVersion[] = [];

  /** The load check: every version loads. */
  async probe(target: DeployedVersion): Promise<void> {
    this.probed.push(target);
  }

  async prewarm(target: DeployedVersion): Promise<void> {
    this.prewarmed.push(target);
  }

  async retire(name: string, keep?: number | ReadonlySet<number>): Promise<void> {
    // One kept version is what most callers pass; a set is shown as its smallest (the tests pass one).
    const keepVersion = typeof keep === 'number' ? keep : keep && keep.size > 0 ? Math.min(...keep) : undefined;
    this.retired.push({ name, keepVersion });
  }

  /** What failing() answers per function (a version in crash-loop backoff). */
  readonly failingViews = new Map<string, FailingView>();

  failing(name: string): FailingView | null {
    return this.failingViews.get(name) ?? null;
  }

  instances(name: string): InstanceView[] {
    return [{ id: 'i-1', function: name, version: 1, state: 'ready', inFlight: 0, concurrency: 8, startedAt: new Date(0).toISOString(), lastUsedAt: null, startKind: 'container' }];
  }

  async reconcile(): Promise<void> {}

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
