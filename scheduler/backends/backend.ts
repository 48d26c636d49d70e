// The container Backend seam: how instances are started, reached, stopped and found again.
// Implementations side by side: docker.ts (one host), process.ts (no Docker: child processes),
// kubernetes.ts (a cluster). The scheduler only ever talks to this interface.
//
// Runtime protocol every instance speaks (see runtime-images/README.md):
//   GET /healthz -> 200 once ready (for a stem: ready to accept /init)
//   POST /init   -> JSON { codeDir | codeUrl+sha256, handler, function, version, env } loads code into a stem;
//                   a second /init is 409
//   anything else is an invocation, proxied as is.

import type { NetworkPolicy } from '../../core/function-config.js';
import type { Runtime } from '../../core/types.js';
import type { SocketPin } from './socket-dir.js';

/** A unix endpoint may carry the pin of its sealed socket (socket-dir.ts): connections re-check it. */
export type Endpoint = { kind: 'unix'; socketPath: string; pin?: SocketPin } | { kind: 'tcp'; host: string; port: number };

export type InstanceRole = 'function' | 'stem';

/**
 * Where a stem loads a version's code from (part of the POST /init body): a directory it can read (hard
 * links in its mounted dir, or the artifact itself for the process backend), or a signed URL it fetches
 * the code's archive from, with the archive's digest (scheduler/code/code-urls.ts).
 */
export type StagedCode = { codeDir: string } | { codeUrl: string; sha256: string };

export interface InstanceSpec {
  /** Stratus-chosen id, unique per platform, used as the container name suffix and label. */
  instanceId: string;
  role: InstanceRole;
  runtime: Runtime | null;
  /** Null for a stem (not yet bound to a function). */
  function: string | null;
  version: number | null;
  /** Image to run. Null only with the process backend, which runs artifactDir with the runtime directly. */
  image: string | null;
  /** Code tree to run, for backends without images (process). */
  artifactDir: string | null;
  /** Handler in the runtime's notation ("index.handler"), for code-baked images and the process backend. */
  handler: string | null;
  memoryMb: number;
  /** Hard CPU cap in cores; null: no cap beyond the platform's CPU shares. */
  cpus: number | null;
  /** 'none': the instance gets no network interface but loopback (stems are always 'egress'). */
  network: NetworkPolicy;
  env: Record<string, string>;
  /** Calls the instance runs at once (the runtime holds the rest: several replicas call one instance); null: no limit (a stem). */
  concurrency: number | null;
}

/** Limits a stem takes when it is specialized for a function. */
export interface ResourceLimits {
  memoryMb: number;
  cpus: number | null;
}

export interface InstanceHandle {
  instanceId: string;
  role: InstanceRole;
  runtime: Runtime | null;
  function: string | null;
  version: number | null;
  endpoint: Endpoint;
  /** Backend-specific id (container id, pid, pod name): shown to operators, never needed by callers. */
  backendRef: string;
  startedAt: number;
}

export type ExitReason = 'exited' | 'oom' | 'killed';

export interface InstanceExit {
  instanceId: string;
  reason: ExitReason;
  exitCode: number | null;
}

export interface Backend {
  readonly kind: 'docker' | 'process' | 'kubernetes';

  /**
   * false: the scheduler never uses stems with this backend (stageCode() cannot work there).
   * Absent or true: stems are supported.
   */
  readonly supportsStems?: boolean;

  /**
   * false: setLimits() cannot change a running instance's limits (a pod keeps those it was created with), so a
   * stem only serves versions whose limits are the stem pool's. Absent or true: a claim may change them.
   */
  readonly resizesInstances?: boolean;

  /**
   * Creates and starts an instance and resolves once GET /healthz answers 200 through its endpoint.
   * On failure it removes what it created and rejects with a StratusError INSTANCE_START_FAILED.
   */
  start(spec: InstanceSpec, signal?: AbortSignal): Promise<InstanceHandle>;

  /**
   * Makes a version's code tree reachable from a running stem (the handle is the specialized one: role
   * function, its function and version) and says where the runtime should load it from.
   */
  stageCode(instance: InstanceHandle, artifactDir: string): Promise<StagedCode>;

  /**
   * Changes a running instance's memory limit and CPU cap: a stem is created with the pool's default
   * limits and takes the function's own when it is specialized. Backends without cgroups may ignore it.
   */
  setLimits(instanceId: string, limits: ResourceLimits): Promise<void>;

  /** Stops and removes an instance; idempotent (an unknown or already gone instance is not an error). */
  stop(instanceId: string, opts?: { graceMs?: number }): Promise<void>;

  /**
   * Instances this platform owns, found by the backend's labels: for reconciliation after a restart.
   * `follow: false`: only look (another replica follows their logs); by default the running ones'
   * logs are followed from now on, as this replica's own.
   */
  list(opts?: { follow?: boolean }): Promise<InstanceHandle[]>;

  /** Optional: follow the logs of an instance another replica started and can no longer follow (it died). */
  follow?(instance: InstanceHandle): void;

  /** Why an instance is gone or failing (e.g. OOM-killed), or null while it is running fine. */
  diagnose(instanceId: string): Promise<InstanceExit | null>;

  /** Called when an instance exits on its own (crash, OOM). Returns an unsubscribe. */
  onExit(listener: (exit: InstanceExit) => void): () => void;

  close(): Promise<void>;
}

/** One line an instance wrote, as the backend saw it: the runtime's JSON lines are parsed by the reader. */
export interface InstanceLogLine {
  instanceId: string;
  /** Null while the instance is an unspecialized stem: its lines belong to no function. */
  function: string | null;
  version: number | null;
  stream: 'stdout' | 'stderr';
  /** The line without its newline. */
  text: string;
  /** Epoch ms when the backend received it. */
  time: number;
}

/**
 * Optional: a backend that can follow what its instances write (Docker's logs, the process backend's
 * pipes, Kubernetes' pod log API). Streams are opened only while someone listens, so a platform that
 * collects no logs pays nothing.
 */
export interface InstanceLogSource {
  /** Every line of every instance, from subscription on. Returns an unsubscribe. */
  onLog(listener: (entry: InstanceLogLine) => void): () => void;
}

export function isLogSource(backend: Backend): backend is Backend & InstanceLogSource {
  return typeof (backend as Partial<InstanceLogSource>).onLog === 'function';
}
