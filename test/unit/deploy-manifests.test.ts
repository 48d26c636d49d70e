// deploy/ (and the optional deploy/build-worker/) without a cluster: every object valid by the Kubernetes
// schemas with no unknown field, and the promises the manifests make held against the code — two or more
// gateways that are one platform, a PodDisruptionBudget that covers them, probes on routes the app serves
// without a key, a grace period that covers the drain, service links off and no Service whose links would
// overwrite a setting, RBAC equal to what the code asks of the API server, every variable a known setting
// with a valid value. With kubectl on PATH (CI installs it: scripts/check-manifests.sh) the reading is also
// compared with `kubectl kustomize`.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig, settingNames } from '../../core/config.js';
import { servicesInjecting } from '../../core/service-links.js';
import { OPERATIONS } from '../../gateway/api/openapi/document.js';
import { egressDenied, ingressAllowed, permissionsInSource, permissionsOfRole, permissionsUsedByCode, readKustomization, ROOT, schemaErrors, unknownFields, objectKey, type KubeObject } from '../support/kube-manifests.js';
import { instanceSpec } from '../support/instance-spec.js';
import { isCI } from '../support/services.js';
import { podManifest, POD_PORT } from '../../scheduler/backends/kubernetes-spec.js';

const MAIN = path.join(ROOT, 'deploy');
const WORKER = path.join(ROOT, 'deploy/build-worker');
const main = readKustomization(MAIN).objects;
const worker = readKustomization(WORKER).objects;
const all = [...main, ...worker];

interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }
interface Probe { httpGet?: { path: string; port: string | number }; periodSeconds?: number; failureThreshold?: number; timeoutSeconds?: number }
interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: { privileged?: boolean; runAsNonRoot?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] }; seccompProfile?: { type: string } };
}
interface PodSpec {
  serviceAccountName?: string;
  enableServiceLinks?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
  affinity?: { podAntiAffinity?: { preferredDuringSchedulingIgnoredDuringExecution?: { podAffinityTerm: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } } }[] } };
  containers: Container[];
}
interface Deployment extends KubeObject {
  spec: { replicas: number; strategy: { type: string; rollingUpdate?: { maxUnavailable?: number | string } }; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}

const find = <T extends KubeObject>(objects: KubeObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o as T;
};
const gateway = find<Deployment>(main, 'Deployment', 'stratus-gateway');
const buildWorker = find<Deployment>(worker, 'Deployment', 'stratus-build-worker');
/** The Stratus container: the platform image, under whatever registry the operator pushed it to. */
const stratusOf = (d: Deployment) => d.spec.template.spec.containers.find((c) => /(^|\/)stratus\/gateway(:|@|$)/.test(c.image))!;
const envOf = (c: Container) => new Map((c.env ?? []).map((e) => [e.name, e]));
const valueOf = (c: Container, name: string) => envOf(c).get(name)?.value;
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('deploy/ manifests', () => {
  it('are valid Kubernetes objects: schemas, and no field the API does not have', async () => {
    expect(all.length).toBeGreaterThan(10);
    const errors = [...(await Promise.all(all.map(schemaErrors))).flat(), ...all.flatMap(unknownFields)];
    expect(errors).toEqual([]);
    // The checks can fail: a misspelt field and a wrong type are found.
    const broken = structuredClone(gateway) as unknown as { spec: { template: { spec: Record<string, unknown> } } };
    broken.spec.template.spec.enableServiceLink = false;
    (broken.spec.template.spec.containers as Container[])[0]!.readinessProbe!.periodSeconds = '2' as unknown as number;
    expect(unknownFields(broken as unknown as KubeObject)).toEqual(['Deployment/stratus/stratus-gateway.spec.template.spec: V1PodSpec has no field "enableServiceLink"']);
    expect((await schemaErrors(broken as unknown as KubeObject)).join()).toMatch(/periodSeconds must be integer/);
  });

  it('run two or more gateways that are replaced one at a time, spread over nodes, with a budget that keeps one', () => {
    expect(gateway.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(gateway.spec.strategy).toMatchObject({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0 } });
    const pod = gateway.spec.template;
    expect(matches(gateway.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    const anti = pod.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(anti.some((t) => t.podAffinityTerm.topologyKey === 'kubernetes.io/hostname' && matches(t.podAffinityTerm.labelSelector.matchLabels, pod.metadata.labels))).toBe(true);

    const pdbs = main.filter((o) => o.kind === 'PodDisruptionBudget') as (KubeObject & { spec: { minAvailable?: number; selector: { matchLabels: Record<string, string> } } })[];
    const covering = pdbs.filter((p) => p.metadata.namespace === gateway.metadata.namespace && matches(p.spec.selector.matchLabels, pod.metadata.labels));
    expect(covering).toHaveLength(1);
    expect(covering[0]!.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(covering[0]!.spec.minAvailable).toBeLessThan(gateway.spec.replicas);
    // The budget selects the gateways and nothing else of the namespace (not Redis, not function pods).
    const podsOfNamespace = main.filter((o) => o.kind === 'Deployment' && o !== gateway).map((d) => (d as Deployment).spec.template.metadata.labels);
    expect(podsOfNamespace.filter((labels) => matches(covering[0]!.spec.selector.matchLabels, labels))).toEqual([]);
  });

  it('probe routes the app serves without a key: readiness (503 while draining) apart from liveness', () => {
    const publicGets = new Set(OPERATIONS.filter((op) => op.method === 'get' && op.access === 'public').map((op) => op.path));
    for (const d of [gateway, buildWorker]) {
      const c = stratusOf(d);
      for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
        if (probe) expect(publicGets, `${d.metadata.name} probes ${probe.httpGet?.path}`).toContain(probe.httpGet?.path);
      }
      // A draining replica is alive: liveness on readiness's route would have the kubelet kill it mid-drain.
      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    }
    expect(stratusOf(gateway).readinessProbe?.httpGet?.path).toBe('/readyz');
  });

  it('give a stop its drain: readiness fails before intake closes, and the kubelet waits for the whole stop', () => {
    for (const d of [gateway, buildWorker]) {
      const c = stratusOf(d);
      const cfg = loadConfig(envForConfig(c));
      // The kubelet's SIGKILL comes after the grace period: the stop's own bound, and a margin, must fit.
      expect(d.spec.template.spec.terminationGracePeriodSeconds! * 1000, d.metadata.name).toBeGreaterThanOrEqual(cfg.stopTimeoutMs + 5000);
    }
    const c = stratusOf(gateway);
    const notice = loadConfig(envForConfig(c)).drainNoticeMs;
    const probe = c.readinessProbe!;
    // Long enough for the probe to see 503 (period × failures, plus one probe's timeout) with as much again
    // for endpoints to reach kube-proxy and ingresses.
    const detect = (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3) + (probe.timeoutSeconds ?? 1);
    expect(notice).toBeGreaterThanOrEqual(2 * detect * 1000);
  });

  it('are one platform: gateways and build worker share identity, Redis, registry and key', () => {
    const shared = ['STRATUS_PLATFORM_ID', 'STRATUS_REDIS_PREFIX', 'STRATUS_IMAGE_PREFIX', 'STRATUS_STORE', 'STRATUS_REDIS_URL', 'STRATUS_REGISTRY', 'STRATUS_RUNTIME_IMAGE_NODE', 'STRATUS_RUNTIME_IMAGE_PYTHON', 'STRATUS_BACKEND', 'STRATUS_K8S_NAMESPACE'];
    const g = stratusOf(gateway);
    const w = stratusOf(buildWorker);
    for (const name of shared) {
      expect(valueOf(g, name), name).toBeDefined();
      expect(valueOf(w, name), name).toBe(valueOf(g, name));
    }
    // Explicit, not derived from each pod's own state dir; and the same admin key, from a secret (never generated per pod).
    const cfg = loadConfig(envForConfig(g));
    expect(cfg.store.redisPrefix).toBe(`${cfg.platformId}:`);
    expect(envOf(g).get('STRATUS_API_KEY')?.valueFrom?.secretKeyRef).toEqual(envOf(w).get('STRATUS_API_KEY')?.valueFrom?.secretKeyRef);
    expect(envOf(g).get('STRATUS_API_KEY')?.valueFrom?.secretKeyRef).not.toHaveProperty('optional');
    // The Redis URL names the one Redis Service of deploy/ (reachable from the worker's namespace too).
    const url = new URL(cfg.store.redisUrl);
    const [svcName, svcNamespace] = url.hostname.split('.');
    const redis = find<KubeObject & { spec: { ports: { port: number }[] } }>(main, 'Service', svcName!);
    expect(redis.metadata.namespace).toBe(svcNamespace);
    expect(redis.spec.ports.map((p) => p.port)).toContain(Number(url.port));
    expect(find<Deployment>(main, 'Deployment', 'redis').spec.replicas).toBe(1);
    // The function pods' namespace is the one the Role is in.
    expect(cfg.backend.kubernetes.namespace).toBe(gateway.metadata.namespace);
  });

  it('set only known settings, with values the config accepts', () => {
    const known = new Set(settingNames());
    for (const d of [gateway, buildWorker]) {
      const c = stratusOf(d);
      for (const e of c.env ?? []) expect(known, `${d.metadata.name}: ${e.name}`).toContain(e.name);
      expect(() => loadConfig(envForConfig(c)), d.metadata.name).not.toThrow();
    }
  });

  it('turn service links off, and name no Service so that its links would be a setting', () => {
    for (const d of [gateway, buildWorker]) expect(d.spec.template.spec.enableServiceLinks, d.metadata.name).toBe(false);
    const services = all.filter((o) => o.kind === 'Service').map((s) => s.metadata.name);
    expect(services).toContain('stratus-gateway');
    const overwritten = settingNames().flatMap((setting) => servicesInjecting(setting).filter((s) => services.includes(s)).map((s) => `${s} → ${setting}`));
    expect(overwritten).toEqual([]);
  });

  it('grant exactly what the code asks of the API server, in the namespace only', () => {
    const { used, unplaced } = permissionsUsedByCode();
    expect(unplaced).toEqual([]);
    expect(used.size).toBeGreaterThan(0);
    const roles = all.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole');
    expect(roles.map(objectKey)).toEqual(['Role/stratus/stratus-pods']);
    expect(permissionsOfRole(roles[0]!).sort(), `the code's calls: ${JSON.stringify(Object.fromEntries(used))}`).toEqual([...used.keys()].sort());
    // Both service accounts are bound to it, in the function pods' namespace.
    const bindings = all.filter((o) => o.kind === 'RoleBinding') as (KubeObject & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] })[];
    for (const d of [gateway, buildWorker]) {
      const sa = { kind: 'ServiceAccount', name: d.spec.template.spec.serviceAccountName!, namespace: d.metadata.namespace! };
      expect(find(all, 'ServiceAccount', sa.name).metadata.namespace).toBe(sa.namespace);
      expect(bindings.some((b) => b.metadata.namespace === 'stratus' && b.roleRef.kind === 'Role' && b.roleRef.name === 'stratus-pods' && b.subjects.some((s) => s.kind === sa.kind && s.name === sa.name && s.namespace === sa.namespace)), sa.name).toBe(true);
    }
  });

  it('read the permissions off the code: typed calls, watches, the Log class; and name what they cannot place', () => {
    const found = permissionsInSource(
      [
        "import { CoordinationV1Api, KubeConfig, Log, Watch, type V1Pod } from '@kubernetes/client-node';",
        'await api.readNamespacedPodLog({ name, namespace });',
        'await leases.replaceNamespacedLease({ name, namespace, body });',
        'await api.createNamespacedPodEviction({ name, namespace, body });',
        'const w = new Watch(kc); await w.watch(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, {}, cb, done);',
        'await api.listPodForAllNamespaces();',
        'await api.createNamespacedWidget({ namespace, body });',
      ].join('\n'),
      'x.ts',
    );
    expect([...found.used.keys()].sort()).toEqual(['coordination.k8s.io|leases|update', 'coordination.k8s.io|leases|watch', '|pods/eviction|create', '|pods/log|get']);
    expect(found.unplaced).toEqual([
      'x.ts: createNamespacedWidget (add its verb/kind to test/support/kube-manifests.ts and the permission to deploy/rbac.yaml)',
      'x.ts: listPodForAllNamespaces (cluster-wide: a Role cannot grant it)',
    ]);
    expect(permissionsInSource("import { Exec } from '@kubernetes/client-node';", 'y.ts').unplaced).toEqual([expect.stringMatching(/^y\.ts: uses Exec /)]);
  });

  it('let every Stratus process reach the function pods (the one running a build rolls it out), and nothing else', () => {
    // Function pods as the backend makes them: labels from scheduler/backends/kubernetes-spec.ts.
    const ns = gateway.metadata.namespace!;
    const fnPod = (network: 'egress' | 'none') => {
      const spec = instanceSpec('np-', { role: 'function', function: 'shop', version: 3, network });
      const pod = podManifest(spec, 'img', { namespace: ns, platformId: 'stratus-k8s', functionUid: 10001, tmpfsMb: 32, stopGraceSeconds: 10 });
      return { namespace: ns, labels: pod.metadata!.labels! };
    };
    const open = fnPod('egress');
    const closed = fnPod('none');
    for (const d of [gateway, buildWorker]) {
      const from = { namespace: d.metadata.namespace!, labels: d.spec.template.metadata.labels };
      for (const to of [open, closed]) expect(ingressAllowed(all, from, to, POD_PORT), `${d.metadata.name} → ${to.labels['dev.stratus.network'] ?? 'egress'} function pod`).toBe(true);
    }
    // Not from another function, nor from Redis, nor on another port.
    expect(ingressAllowed(all, open, closed, POD_PORT)).toBe(false);
    expect(ingressAllowed(all, { namespace: ns, labels: find<Deployment>(main, 'Deployment', 'redis').spec.template.metadata.labels }, open, POD_PORT)).toBe(false);
    expect(ingressAllowed(all, { namespace: ns, labels: gateway.spec.template.metadata.labels }, open, 22)).toBe(false);
    // network: none sends nothing; the others may.
    expect(egressDenied(all, closed)).toBe(true);
    expect(egressDenied(all, open)).toBe(false);
  });

  it('keep privileged containers out of the restricted namespace', () => {
    const level = (ns: string) => find(all, 'Namespace', ns).metadata.labels?.['pod-security.kubernetes.io/enforce'];
    expect(level('stratus')).toBe('restricted');
    for (const d of all.filter((o) => o.kind === 'Deployment') as Deployment[]) {
      const spec = d.spec.template.spec;
      for (const c of spec.containers) {
        if (c.securityContext?.privileged) {
          expect(level(d.metadata.namespace!), `${d.metadata.name}/${c.name}`).toBe('privileged');
          continue;
        }
        // What "restricted" asks of every container (runAsNonRoot and seccomp may come from the pod).
        expect(c.securityContext?.allowPrivilegeEscalation, `${d.metadata.name}/${c.name}`).toBe(false);
        expect(c.securityContext?.capabilities?.drop, `${d.metadata.name}/${c.name}`).toEqual(['ALL']);
        expect(c.securityContext?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot, `${d.metadata.name}/${c.name}`).toBe(true);
        expect((c.securityContext?.seccompProfile ?? spec.securityContext?.seccompProfile)?.type, `${d.metadata.name}/${c.name}`).toBe('RuntimeDefault');
      }
    }
  });
});

describe.skipIf(!hasKubectl())('deploy/ as kubectl kustomize renders it', () => {
  it.each([MAIN, WORKER])('%s: the same objects as read here', (dir) => {
    const rendered = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
    const ours = readKustomization(dir).objects;
    const theirs = rendered.split(/^---$/m).map((doc) => doc.trim()).filter(Boolean).map((doc) => parseYaml(doc));
    const byKey = (list: KubeObject[]) => Object.fromEntries(list.map((o) => [objectKey(o), o]));
    expect(byKey(theirs)).toEqual(byKey(ours));
  });
});

/** What the container's environment would be: its values, and a stand-in for a value from a secret. */
function envForConfig(c: Container): Record<string, string> {
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? (e.valueFrom?.secretKeyRef ? 'a-secret-from-the-cluster-0123' : '')]));
}

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    if (isCI) throw new Error('CI=true: kubectl is missing (scripts/check-manifests.sh installs it)');
    console.warn('skipping the kubectl kustomize comparison: no kubectl (bash scripts/check-manifests.sh installs it)');
    return false;
  }
}
