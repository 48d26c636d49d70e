// What a Stratus pod looks like, and how to read one back: pure functions of the spec and of the pod
// objects the API server returns, so that the shape and the exit rules are checked without a cluster.
// kubernetes.ts creates pods from podManifest() and reads them with the helpers below.

import { createHash } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import type { InstanceExit, InstanceHandle, InstanceSpec } from './backend.js';
import { identityFromLabels, LABEL } from './docker-spec.js';

export const POD_PORT = 8080;
export const CONTAINER_NAME = 'function';
/** The full instance id: a label value is capped at 63 characters, an annotation is not. */
export const INSTANCE_ANNOTATION = LABEL.instance;

export interface PodShape {
  namespace: string;
  platformId: string;
  functionUid: number;
  /** Size of the in-memory emptyDir at /tmp, the only place the function can write. */
  tmpfsMb: number;
  /** Pod terminationGracePeriodSeconds: the runtime drains in-flight requests within it on SIGTERM. */
  stopGraceSeconds: number;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

export function podName(instanceId: string): string {
  return `stratus-${instanceId}`;
}

/** Why an instance id cannot name a pod (pod names are lowercase DNS subdomains), or null when it can. */
export function podNameProblem(instanceId: string): string | null {
  const name = podName(instanceId);
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    return `instance id ${JSON.stringify(instanceId)} cannot name a pod: a pod name holds only a-z, 0-9, "-" and "." (at most 253)`;
  }
  return null;
}

/** A label value for any string: kept as is when valid, else shortened with a hash so it stays unique. */
export function labelValue(value: string): string {
  if (value.length <= 63 && LABEL_VALUE.test(value)) return value;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 10);
  const head = value.replace(/[^-A-Za-z0-9_.]/g, '-').slice(0, 52).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return head ? `${head}-${hash}` : hash;
}

export function podLabels(spec: InstanceSpec, platformId: string): Record<string, string> {
  return {
    [LABEL.platform]: platformId,
    [LABEL.instance]: labelValue(spec.instanceId),
    [LABEL.role]: spec.role,
    [LABEL.function]: spec.function ?? '',
    [LABEL.version]: spec.version === null ? '' : String(spec.version),
    [LABEL.runtime]: spec.runtime ?? '',
    // deploy/network-policy.yaml denies all egress to pods labelled none.
    [NETWORK_LABEL]: spec.network,
  };
}

export function podEnv(spec: InstanceSpec): { name: string; value: string }[] {
  const env: Record<string, string> = { ...spec.env, PORT: String(POD_PORT) };
  if (spec.role === 'stem') env.STRATUS_STEM = '1';
  if (spec.handler) env.STRATUS_HANDLER = spec.handler;
  if (spec.function) env.STRATUS_FUNCTION_NAME = spec.function;
  if (spec.concurrency !== null) env.STRATUS_CONCURRENCY = String(spec.concurrency);
  if (spec.version !== null) env.STRATUS_FUNCTION_VERSION = String(spec.version);
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}

/** Selects the pods whose egress deploy/network-policy.yaml denies. */
export const NETWORK_LABEL = 'dev.stratus.network';

export function podManifest(spec: InstanceSpec, image: string, shape: PodShape): V1Pod {
  const memory = `${spec.memoryMb}Mi`;
  // A CPU limit is a CFS quota, as Docker's NanoCpus: the same cap on both backends.
  const limits: Record<string, string> = { memory };
  if (spec.cpus !== null) limits.cpu = `${Math.round(spec.cpus * 1000)}m`;
  const uid = shape.functionUid;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(spec.instanceId),
      namespace: shape.namespace,
      labels: podLabels(spec, shape.platformId),
      annotations: { [INSTANCE_ANNOTATION]: spec.instanceId },
    },
    spec: {
      // The scheduler replaces a dead instance itself; a kubelet restart would hide the crash from it.
      restartPolicy: 'Never',
      // Function code has no business with the Kubernetes API, nor with the services of the namespace.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: shape.stopGraceSeconds,
      securityContext: { runAsUser: uid, runAsGroup: uid, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: CONTAINER_NAME,
          image,
          imagePullPolicy: 'IfNotPresent',
          env: podEnv(spec),
          ports: [{ name: 'http', containerPort: POD_PORT, protocol: 'TCP' }],
          // requests = limits: the pod is never overcommitted on memory, so it is not the first evicted.
          resources: { limits, requests: { memory } },
          securityContext: {
            runAsUser: uid,
            runAsGroup: uid,
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
          // No x-stratus-request-id header: the runtime treats it as a control request, not an invocation.
          readinessProbe: { httpGet: { path: '/healthz', port: POD_PORT }, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
      volumes: [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: `${shape.tmpfsMb}Mi` } }],
    },
  };
}

/** The instance id a pod belongs to: the annotation holds it in full. */
export function instanceIdOf(pod: V1Pod): string | null {
  return pod.metadata?.annotations?.[INSTANCE_ANNOTATION] ?? pod.metadata?.labels?.[LABEL.instance] ?? null;
}

export function identityOf(pod: V1Pod): Pick<InstanceHandle, 'instanceId' | 'role' | 'runtime' | 'function' | 'version'> | null {
  const instanceId = instanceIdOf(pod);
  if (!instanceId) return null;
  return identityFromLabels({ ...pod.metadata?.labels, [LABEL.instance]: instanceId });
}

/** How the pod's container ended, or null while it has not. */
export function podExit(pod: V1Pod, instanceId: string): InstanceExit | null {
  const statuses = pod.status?.containerStatuses ?? [];
  const terminated = (statuses.find((c) => c.name === CONTAINER_NAME) ?? statuses[0])?.state?.terminated;
  if (terminated) {
    const reason = terminated.reason === 'OOMKilled' ? 'oom' : terminated.exitCode === 137 ? 'killed' : 'exited';
    return { instanceId, reason, exitCode: terminated.exitCode ?? null };
  }
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') {
    // An evicted pod (node pressure) never reports a container state: the kubelet took it away.
    return { instanceId, reason: pod.status?.reason === 'Evicted' ? 'killed' : 'exited', exitCode: null };
  }
  return null;
}

/** Waiting reasons that never resolve by themselves for a restartPolicy Never pod. */
const HOPELESS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

/** Why a pod cannot start (gone, failed, image not pullable), or null while it may still come up. */
export function startProblem(pod: V1Pod, instanceId: string): string | null {
  if (pod.metadata?.deletionTimestamp) return 'was deleted while starting';
  const exit = podExit(pod, instanceId);
  if (exit) return exit.reason === 'oom' ? 'ran out of memory while starting' : `exited with code ${exit.exitCode ?? 'unknown'}${pod.status?.reason ? ` (${pod.status.reason})` : ''}`;
  for (const c of pod.status?.containerStatuses ?? []) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && HOPELESS.has(waiting.reason)) return `cannot start its container: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}`;
  }
  return null;
}

/** A short account of where a pod is stuck, for timeout messages ("Pending: Unschedulable: 0/3 nodes ..."). */
export function describePod(pod: V1Pod | null): string {
  if (!pod) return 'no pod';
  const parts = [pod.status?.phase ?? 'Unknown'];
  const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (unscheduled) parts.push(`${unscheduled.reason ?? 'not scheduled'}${unscheduled.message ? `: ${unscheduled.message}` : ''}`);
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  if (waiting?.reason) parts.push(waiting.reason);
  return parts.join(', ');
}
