// What a Stratus container looks like: labels, hardening and mounts, as a pure function of the spec so
// that the shape can be checked without Docker. docker.ts creates containers from it.

import type Docker from 'dockerode';
import type { Runtime } from '../../core/types.js';
import type { InstanceHandle, InstanceRole, InstanceSpec } from './backend.js';

export const LABEL = {
  platform: 'dev.stratus.platform',
  instance: 'dev.stratus.instance',
  role: 'dev.stratus.role',
  function: 'dev.stratus.function',
  version: 'dev.stratus.version',
  runtime: 'dev.stratus.runtime',
  /** How Stratus reaches the container ('unix' | 'tcp'): list() recomputes the endpoint from it. */
  endpoint: 'dev.stratus.endpoint',
} as const;

export type EndpointMode = 'unix' | 'tcp';

/** Where the per-instance host dir appears in the container; the runtime's socket is below it. */
export const CONTAINER_RUN_DIR = '/run/stratus';
export const CONTAINER_SOCKET = `${CONTAINER_RUN_DIR}/sock/runtime.sock`;
export const CONTAINER_CODE_DIR = `${CONTAINER_RUN_DIR}/code`;
export const CONTAINER_PORT = 8080;
/** Where a stem finds the unix socket it fetches its code through (DockerBackendOptions.codeOverHttp). */
export const CONTAINER_CODE_SOCKET_DIR = '/run/stratus-code';
export const CODE_SOCKET_NAME = 'code.sock';

export interface ContainerShape {
  platformId: string;
  functionUid: number;
  pidsLimit: number;
  cpuShares: number;
  /** Size of the writable tmpfs at /tmp, the only place the function can write. */
  tmpfsMb: number;
  endpointMode: EndpointMode;
  /** Host side of the per-instance dir (socket in unix mode, staged code in both modes). */
  hostDir: string;
  /** Run docker-init as PID 1 so signals reach the runtime and zombies are reaped. */
  init: boolean;
  /** Host dir of the code route's socket, mounted read-only (stems that fetch code over HTTP); null: none. */
  codeSocketDir?: string | null;
}

export function containerName(instanceId: string): string {
  return `stratus-${instanceId}`;
}

export function labelsFor(spec: InstanceSpec, platformId: string, mode: EndpointMode): Record<string, string> {
  return {
    [LABEL.platform]: platformId,
    [LABEL.instance]: spec.instanceId,
    [LABEL.role]: spec.role,
    [LABEL.function]: spec.function ?? '',
    [LABEL.version]: spec.version === null ? '' : String(spec.version),
    [LABEL.runtime]: spec.runtime ?? '',
    [LABEL.endpoint]: mode,
  };
}

/** The InstanceHandle fields that labels carry (the endpoint and refs are added by the caller). */
export function identityFromLabels(labels: Record<string, string>): Pick<InstanceHandle, 'instanceId' | 'role' | 'runtime' | 'function' | 'version'> | null {
  const instanceId = labels[LABEL.instance];
  const role = labels[LABEL.role];
  if (!instanceId || (role !== 'function' && role !== 'stem')) return null;
  const version = labels[LABEL.version];
  const runtime = labels[LABEL.runtime];
  return {
    instanceId,
    role: role as InstanceRole,
    runtime: runtime === 'node' || runtime === 'python' ? (runtime as Runtime) : null,
    function: labels[LABEL.function] || null,
    version: version ? Number(version) : null,
  };
}

export function envFor(spec: InstanceSpec, mode: EndpointMode, codeSocket = false): string[] {
  const env: Record<string, string> = { ...spec.env };
  if (codeSocket) env.STRATUS_CODE_SOCKET = `${CONTAINER_CODE_SOCKET_DIR}/${CODE_SOCKET_NAME}`;
  if (mode === 'unix') env.STRATUS_SOCKET = CONTAINER_SOCKET;
  else env.PORT = String(CONTAINER_PORT);
  if (spec.role === 'stem') env.STRATUS_STEM = '1';
  if (spec.handler) env.STRATUS_HANDLER = spec.handler;
  if (spec.function) env.STRATUS_FUNCTION_NAME = spec.function;
  if (spec.concurrency !== null) env.STRATUS_CONCURRENCY = String(spec.concurrency);
  if (spec.version !== null) env.STRATUS_FUNCTION_VERSION = String(spec.version);
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

export function nanoCpus(cpus: number): number {
  return Math.round(cpus * 1e9);
}

export function createOptions(spec: InstanceSpec, image: string, shape: ContainerShape): Docker.ContainerCreateOptions {
  const memory = spec.memoryMb * 1024 * 1024;
  const unix = shape.endpointMode === 'unix';
  return {
    name: containerName(spec.instanceId),
    Image: image,
    User: `${shape.functionUid}:${shape.functionUid}`,
    Env: envFor(spec, shape.endpointMode, Boolean(shape.codeSocketDir)),
    Labels: labelsFor(spec, shape.platformId, shape.endpointMode),
    ...(unix ? {} : { ExposedPorts: { [`${CONTAINER_PORT}/tcp`]: {} } }),
    HostConfig: {
      // The instance dir is read-only inside (staged code is hard-linked to the artifact: a write would
      // change every instance's copy); only sock/ is writable, for the runtime's socket — a capped tmpfs
      // that Stratus seals once the socket exists (socket-dir.ts). In tcp mode the dir is still mounted,
      // read-only, for staged code: bind-mounted files work where bind-mounted sockets don't.
      // A stem fetching code over HTTP also gets the dir of the code route's socket (connecting to a socket
      // needs no write access to its file system; the dir, not the socket file, survives a restart of Stratus).
      Binds: [
        `${shape.hostDir}:${CONTAINER_RUN_DIR}:ro`,
        ...(unix ? [`${shape.hostDir}/sock:${CONTAINER_RUN_DIR}/sock:rw`] : []),
        ...(shape.codeSocketDir ? [`${shape.codeSocketDir}:${CONTAINER_CODE_SOCKET_DIR}:ro`] : []),
      ],
      // HostPort '' asks Docker for a random free port; HostIp keeps it off every other interface.
      PortBindings: unix ? {} : { [`${CONTAINER_PORT}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: '' }] },
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${shape.tmpfsMb}m` },
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: shape.pidsLimit,
      Memory: memory,
      MemorySwap: memory,
      CpuShares: shape.cpuShares,
      // A hard cap (CFS quota) on top of the fair share, when the function asks for one.
      ...(spec.cpus === null ? {} : { NanoCpus: nanoCpus(spec.cpus) }),
      // 'none': Docker gives the container a loopback interface and nothing else; the unix socket in
      // the mounted dir is how Stratus still reaches it.
      ...(spec.network === 'none' ? { NetworkMode: 'none' } : {}),
      Init: shape.init,
      RestartPolicy: { Name: 'no' },
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
    },
  };
}
