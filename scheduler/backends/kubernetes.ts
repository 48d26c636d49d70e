// The Kubernetes backend: one pod per instance in one namespace, hardened (non-root uid, read-only root,
// no capabilities, no privilege escalation, RuntimeDefault seccomp, no service account token) and
// reached at its pod IP on :8080 — Stratus runs inside the cluster, where pod IPs are routable.
//
// Stems: a stem pod runs the runtime image and, at specialization, fetches its version's code from
// Stratus over HTTP with a short-lived signed URL (scheduler/code/code-urls.ts; the gateway Service is
// reachable from pods, a volume shared with the gateway is not). Without a code URL issuer (no
// STRATUS_INTERNAL_URL) there are no stems: supportsStems is false and stageCode() refuses.
// What pods write is followed through the pod log API (kubernetes-logs.ts).
//
// close() only ends the pod watch: which pods to stop on shutdown is the scheduler's call (it drains
// them), and pods left running are found again by label after a restart, as with Docker.

import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { StratusError } from '../../core/errors.js';
import { Closeable } from '../../core/lifecycle.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { CodeUrlIssuer } from '../code/code-urls.js';
import type { Backend, Endpoint, InstanceExit, InstanceHandle, InstanceLogLine, InstanceLogSource, InstanceSpec, StagedCode } from './backend.js';
import { PodLogStreams } from './kubernetes-logs.js';
import { LABEL } from './docker-spec.js';
import { logStartFailure, NotHealthyError, waitUntilHealthy } from './health.js';
import { describeApiFailure, isApiStatus } from './kubernetes-api.js';
import { describePod, identityOf, instanceIdOf, podExit, podManifest, podName, podNameProblem, POD_PORT, startProblem } from './kubernetes-spec.js';
import { PodWatch, type PodEventType } from './kubernetes-watch.js';

export interface KubernetesBackendOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Value of the dev.stratus.platform label: tells this platform's pods from anyone else's. */
  platformId: string;
  functionUid?: number;
  /** Covers scheduling, image pull and readiness: a cluster start is slower than a local container. */
  startTimeoutMs?: number;
  stopGraceMs?: number;
  tmpfsMb?: number;
  /**
   * How a running pod is reached. Default: tcp to status.podIP:8080. Tests, where no pod network
   * exists, map a pod to the 127.0.0.1 port its fake kubelet serves it on.
   */
  endpointFor?: (pod: { name: string; podIP: string }) => Endpoint;
  /** Delay before re-opening a failed pod watch. */
  watchRetryMs?: number;
  /** Signed code URLs for stems (reachable from pods: the gateway Service); absent: no stems. */
  codeUrls?: CodeUrlIssuer;
  logger?: Logger;
}

const MIN_POLL_MS = 5;
const MAX_POLL_MS = 200;

/** Adds to a set that keeps only the newest entries: ids whose last event never comes must not pile up. */
function remember(set: Set<string>, id: string, max = 1000): void {
  set.add(id);
  if (set.size > max) set.delete(set.values().next().value!);
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class KubernetesBackend extends Closeable implements Backend, InstanceLogSource {
  readonly kind = 'kubernetes' as const;
  readonly supportsStems: boolean;
  /** A pod keeps the limits it was created with: stems serve only versions with the pool's limits. */
  readonly resizesInstances = false;
  readonly namespace: string;
  readonly #o: Required<Omit<KubernetesBackendOptions, 'kubeConfig' | 'logger' | 'namespace' | 'watchRetryMs' | 'codeUrls'>>;
  readonly #codeUrls: CodeUrlIssuer | null;
  readonly #logs: PodLogStreams;
  readonly #api: CoreV1Api;
  readonly #log: Logger;
  readonly #watch: PodWatch;
  /** Instances Stratus is starting or stopping: their pod events are not exits "on their own". */
  readonly #starting = new Set<string>();
  readonly #stopping = new Set<string>();
  readonly #reported = new Set<string>();
  readonly #exitListeners = new Set<(exit: InstanceExit) => void>();
  #watchUnsubscribe: (() => void) | null = null;

  constructor(opts: KubernetesBackendOptions) {
    super();
    this.namespace = opts.namespace;
    this.#o = {
      platformId: opts.platformId,
      functionUid: opts.functionUid ?? 10001,
      startTimeoutMs: opts.startTimeoutMs ?? 60_000,
      stopGraceMs: opts.stopGraceMs ?? 10_000,
      tmpfsMb: opts.tmpfsMb ?? 64,
      endpointFor: opts.endpointFor ?? (({ podIP }) => ({ kind: 'tcp', host: podIP, port: POD_PORT })),
    };
    this.#codeUrls = opts.codeUrls ?? null;
    this.supportsStems = this.#codeUrls !== null;
    this.#api = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.#log = (opts.logger ?? silentLogger).child({ component: 'kubernetes-backend', namespace: opts.namespace });
    this.#logs = new PodLogStreams(opts.kubeConfig, opts.namespace, this.#log);
    this.#watch = new PodWatch({
      kubeConfig: opts.kubeConfig,
      api: this.#api,
      namespace: opts.namespace,
      labelSelector: this.#selector(),
      log: this.#log,
      ...(opts.watchRetryMs !== undefined ? { retryMs: opts.watchRetryMs } : {}),
    });
  }

  async start(spec: InstanceSpec, signal?: AbortSignal): Promise<InstanceHandle> {
    if (this.closed) throw new StratusError('SHUTTING_DOWN', 'Stratus is shutting down; retry against another replica');
    const what = spec.function ? `function ${spec.function} v${spec.version}` : `${spec.runtime ?? ''} stem`;
    const fail = (msg: string, cause?: unknown) =>
      new StratusError('INSTANCE_START_FAILED', `${what}: ${msg}`, { instanceId: spec.instanceId }, { cause });
    if (!spec.image) throw fail('no image to run (the Kubernetes backend needs a built image in a registry the cluster can pull from)');
    const problem = podNameProblem(spec.instanceId);
    if (problem) throw fail(problem);
    const name = podName(spec.instanceId);
    const body = podManifest(spec, spec.image, {
      namespace: this.namespace,
      platformId: this.#o.platformId,
      functionUid: this.#o.functionUid,
      tmpfsMb: this.#o.tmpfsMb,
      stopGraceSeconds: Math.ceil(this.#o.stopGraceMs / 1000),
    });

    this.#starting.add(spec.instanceId);
    try {
      try {
        await this.#api.createNamespacedPod({ namespace: this.namespace, body });
      } catch (err) {
        // Nothing was created: on 409 the existing pod is another instance's and must be left alone.
        this.#log.error('pod create failed', { pod: name, error: err as Error });
        throw fail(describeApiFailure(err, `creating pod ${name} in namespace ${this.namespace}`, this.namespace), err);
      }
      try {
        return await this.#waitReady(spec, name, signal);
      } catch (err) {
        logStartFailure(this.#log, { instanceId: spec.instanceId, pod: name }, err);
        await this.#delete(spec.instanceId, 0).catch((e: unknown) => this.#log.error('cleanup after a failed start failed', { pod: name, error: e as Error }));
        if (err instanceof NotHealthyError) {
          throw fail(err.reason === 'gone' ? `pod ${name} ${err.message}` : err.reason === 'aborted' ? 'start was aborted' : `pod ${name} not ready within ${this.#o.startTimeoutMs} ms (${err.message})`, err);
        }
        throw fail(describeApiFailure(err, `watching pod ${name} start`, this.namespace), err);
      }
    } finally {
      this.#starting.delete(spec.instanceId);
    }
  }

  /** Pod Running with an IP (status polled, quickly at first), then /healthz 200 through the endpoint. */
  async #waitReady(spec: InstanceSpec, name: string, signal?: AbortSignal): Promise<InstanceHandle> {
    const deadline = Date.now() + this.#o.startTimeoutMs;
    let pod: V1Pod | null;
    for (let interval = MIN_POLL_MS; ; interval = Math.min(MAX_POLL_MS, interval * 2)) {
      if (signal?.aborted) throw new NotHealthyError('aborted', 'start was aborted');
      pod = await this.#read(name);
      if (!pod) throw new NotHealthyError('gone', 'was deleted before it ran');
      const problem = startProblem(pod, spec.instanceId);
      if (problem) throw new NotHealthyError('gone', problem);
      if (pod.status?.phase === 'Running' && pod.status.podIP) break;
      if (Date.now() >= deadline) throw new NotHealthyError('timeout', `pod is ${describePod(pod)}`);
      await pause(interval);
    }
    const endpoint = this.#o.endpointFor({ name, podIP: pod.status!.podIP! });
    await waitUntilHealthy({
      endpoint,
      timeoutMs: Math.max(0, deadline - Date.now()),
      ...(signal ? { signal } : {}),
      // Each check is an API request: asked far less often than the local /healthz probe.
      goneCheckEveryMs: 250,
      checkGone: async () => {
        const now = await this.#read(name);
        return now ? startProblem(now, spec.instanceId) : 'was deleted before it was ready';
      },
    });
    const { instanceId, role, runtime, function: fn, version } = spec;
    this.#logs.track(instanceId, fn, version);
    return { instanceId, role, runtime, function: fn, version, endpoint, backendRef: `pod/${this.namespace}/${name}`, startedAt: Date.now() };
  }

  /** A signed URL the stem fetches its version's code from (the artifact dir is the gateway's, packed for the URL; never the pod's). */
  async stageCode(instance: InstanceHandle, artifactDir: string): Promise<StagedCode> {
    if (!this.#codeUrls || instance.function === null || instance.version === null) {
      throw new StratusError(
        'INSTANCE_START_FAILED',
        `stems are not available on this Kubernetes platform: set STRATUS_INTERNAL_URL (where pods reach Stratus) so that pod ${podName(instance.instanceId)} can fetch its code; start the function from its own image`,
        { instanceId: instance.instanceId },
      );
    }
    // Beside the URL: the pod's labels say what it serves from now on, so that list() — after a restart, or
    // on another replica — finds a function instance, not a stem to remove.
    const [code] = await Promise.all([this.#codeUrls.issue(instance.function, instance.version, artifactDir), this.#relabel(instance)]);
    this.#logs.specialize(instance.instanceId, instance.function, instance.version);
    return code;
  }

  /** In-place pod resize is not GA on every cluster: a pod keeps the limits it was created with (resizesInstances false). */
  async setLimits(): Promise<void> {}

  async stop(instanceId: string, opts?: { graceMs?: number }): Promise<void> {
    await this.#delete(instanceId, opts?.graceMs ?? this.#o.stopGraceMs);
  }

  async list(): Promise<InstanceHandle[]> {
    const pods = await this.#api.listNamespacedPod({ namespace: this.namespace, labelSelector: this.#selector() });
    const handles: InstanceHandle[] = [];
    for (const pod of pods.items) {
      // A pod being deleted is on its way out: it is nobody's to adopt.
      if (pod.metadata?.deletionTimestamp) continue;
      const identity = identityOf(pod);
      if (!identity) continue;
      const name = pod.metadata?.name ?? podName(identity.instanceId);
      // A pod without an IP yet (or any more) is listed all the same, for the reaper to stop.
      const endpoint = this.#o.endpointFor({ name, podIP: pod.status?.podIP ?? '' });
      const started = pod.status?.startTime ?? pod.metadata?.creationTimestamp;
      handles.push({ ...identity, endpoint, backendRef: `pod/${this.namespace}/${name}`, startedAt: started ? new Date(started).getTime() : Date.now() });
      // Found, not started: follow from now, since an earlier run collected what it wrote before.
      if (pod.status?.phase === 'Running') this.#logs.track(identity.instanceId, identity.function, identity.version, new Date().toISOString());
    }
    return handles;
  }

  async diagnose(instanceId: string): Promise<InstanceExit | null> {
    const pod = await this.#read(podName(instanceId));
    if (!pod) return { instanceId, reason: 'killed', exitCode: null };
    const exit = podExit(pod, instanceId);
    if (exit) return exit;
    // Deleted by someone (an operator, a node drain) but not gone yet: it will not serve again.
    if (pod.metadata?.deletionTimestamp) return { instanceId, reason: 'killed', exitCode: null };
    return null;
  }

  onExit(listener: (exit: InstanceExit) => void): () => void {
    this.#exitListeners.add(listener);
    this.#watchUnsubscribe ??= this.#watch.subscribe((type, pod) => this.#onPodEvent(type, pod));
    return () => {
      this.#exitListeners.delete(listener);
    };
  }

  onLog(listener: (entry: InstanceLogLine) => void): () => void {
    return this.#logs.subscribe(listener);
  }

  /** Log streams open now: tests check that stop() and close() leave none. */
  get openLogStreams(): number {
    return this.#logs.openStreams;
  }

  /** Resolves once the pod watch behind onExit() is connected. */
  eventsReady(): Promise<void> {
    return this.#watch.ready();
  }

  protected override async doClose(): Promise<void> {
    this.#watchUnsubscribe?.();
    this.#watchUnsubscribe = null;
    this.#watch.close();
    this.#logs.close();
    this.#exitListeners.clear();
  }

  #onPodEvent(type: PodEventType, pod: V1Pod): void {
    const instanceId = instanceIdOf(pod);
    if (!instanceId || this.#starting.has(instanceId) || this.#reported.has(instanceId)) return;
    if (this.#stopping.has(instanceId)) {
      if (type === 'DELETED') this.#stopping.delete(instanceId);
      return;
    }
    // Deleted by someone else before its container ended (operator, eviction, node loss): killed.
    const exit = podExit(pod, instanceId) ?? (type === 'DELETED' || pod.metadata?.deletionTimestamp ? { instanceId, reason: 'killed' as const, exitCode: null } : null);
    if (!exit) return;
    remember(this.#reported, instanceId);
    this.#log.warn('instance exited', { ...exit });
    for (const l of [...this.#exitListeners]) l(exit);
  }

  #selector(): string {
    return `${LABEL.platform}=${this.#o.platformId}`;
  }

  /** JSON Patch of a specialized stem's identity labels (the pod keeps its name, annotation and spec). */
  async #relabel(instance: InstanceHandle): Promise<void> {
    const name = podName(instance.instanceId);
    const label = (key: string, value: string) => ({ op: 'replace', path: `/metadata/labels/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, value });
    const body = [label(LABEL.role, 'function'), label(LABEL.function, instance.function ?? ''), label(LABEL.version, String(instance.version ?? ''))];
    try {
      await this.#api.patchNamespacedPod({ name, namespace: this.namespace, body });
    } catch (err) {
      throw new StratusError('INSTANCE_START_FAILED', describeApiFailure(err, `labelling pod ${name} with the function it now serves`, this.namespace), { instanceId: instance.instanceId }, { cause: err });
    }
  }

  /** The pod, or null when it does not exist. */
  async #read(name: string): Promise<V1Pod | null> {
    try {
      return await this.#api.readNamespacedPod({ name, namespace: this.namespace });
    } catch (err) {
      if (isApiStatus(err, 404)) return null;
      throw err;
    }
  }

  /** Deletes with a grace period (the runtime drains on SIGTERM); an already gone pod is not an error. */
  async #delete(instanceId: string, graceMs: number): Promise<void> {
    if (podNameProblem(instanceId)) return; // no such pod can exist
    remember(this.#stopping, instanceId);
    const name = podName(instanceId);
    this.#logs.untrack(instanceId);
    try {
      await this.#api.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds: Math.ceil(graceMs / 1000) });
    } catch (err) {
      if (isApiStatus(err, 404)) return;
      this.#log.error('pod delete failed', { pod: name, error: err as Error });
      throw new StratusError('INTERNAL', describeApiFailure(err, `deleting pod ${name}`, this.namespace), { instanceId }, { cause: err });
    }
  }
}
