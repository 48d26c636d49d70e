// The Kubernetes backend against a fake Kubernetes API server (test/support/fake-kube-api.ts): a real HTTP
// server on 127.0.0.1 speaking the pods API with the real shapes, codes and watch stream, driven by the
// real @kubernetes/client-node through a KubeConfig that points at it.
//
// NO CLUSTER RUNS ON THIS MACHINE: no kind/minikube/k3s, and no pod network. What is proven here is the
// backend's side of the API contract, not a cluster's behaviour. A kubelet stand-in (fake-kubelet.ts)
// "runs" pods by starting the real Node runtime on the host; the pod IP it reports is 127.0.0.1 and the
// backend reaches each pod at its own 127.0.0.1 port through the endpointFor option (on a cluster: podIP:8080).
// Needs only node; no service, nothing but 127.0.0.1.

import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { isStratusError, type StratusError } from '../../core/errors.js';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { openKubernetesBackend } from '../../platform/boot/open-kubernetes.js';
import type { InstanceExit, InstanceSpec } from '../../scheduler/backends/backend.js';
import { KubernetesBackend, type KubernetesBackendOptions } from '../../scheduler/backends/kubernetes.js';
import { instanceSpec } from '../support/instance-spec.js';
import { callEndpoint } from '../support/endpoint-call.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { FakeKubelet } from '../support/fake-kubelet.js';

const NS = 'stratus-test';
const IMAGE = '127.0.0.1:5000/stratus/hello:1';
const HELLO = path.join(PROJECT_ROOT, 'test', 'fixtures', 'functions', 'node-hello');
const spec = (over: Partial<InstanceSpec> = {}): InstanceSpec =>
  instanceSpec('kt-', { role: 'function', function: 'hello', version: 1, image: IMAGE, handler: 'index.handler', memoryMb: 128, env: { GREETING: 'hi' }, ...over });

function kubeConfigFor(server: string, context = 'fake'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'tester', token: 'not-a-secret' }],
    contexts: [{ name: context, cluster: 'fake', user: 'tester', namespace: NS }],
    currentContext: context,
  });
  return kc;
}

async function startFails(backend: KubernetesBackend, s: InstanceSpec): Promise<StratusError> {
  const err = await backend.start(s).then(() => null, (e: unknown) => e);
  if (!isStratusError(err)) throw new Error(`expected a StratusError, got ${String(err)}`);
  return err;
}

describe('kubernetes backend (fake API server, no cluster)', () => {
  let api: FakeKubeApi;
  let kubelet: FakeKubelet;
  let server: string;
  const backends: KubernetesBackend[] = [];
  const open = (over: Partial<KubernetesBackendOptions> = {}) => {
    const b = new KubernetesBackend({ kubeConfig: kubeConfigFor(server), namespace: NS, platformId: 'k8s-test', startTimeoutMs: 20_000, stopGraceMs: 2000, endpointFor: kubelet.endpointFor, watchRetryMs: 20, ...over });
    backends.push(b);
    return b;
  };
  let backend: KubernetesBackend;

  beforeAll(async () => {
    api = new FakeKubeApi();
    server = await api.listen();
    kubelet = new FakeKubelet(api, { [IMAGE]: HELLO });
    backend = open();
  });
  afterAll(async () => {
    for (const b of backends) await b.close();
    await kubelet.close();
    await api.close();
  });

  it('carries network "none" as the label deploy/network-policy.yaml denies egress to, and cpus as the CPU limit', async () => {
    const s = spec({ network: 'none', cpus: 0.5 });
    const h = await backend.start(s);
    const pod = api.pod(NS, `stratus-${s.instanceId}`)!;
    expect(pod.metadata!.labels).toMatchObject({ 'dev.stratus.network': 'none' });
    expect(pod.spec!.containers[0]!.resources).toEqual({ limits: { memory: '128Mi', cpu: '500m' }, requests: { memory: '128Mi' } });
    await backend.stop(h.instanceId);
  });

  it('creates one hardened pod per instance and resolves once it is Running and /healthz answers', async () => {
    const s = spec();
    const h = await backend.start(s);
    const pod = api.pod(NS, `stratus-${s.instanceId}`)!;
    expect(pod.metadata!.labels).toEqual({
      'dev.stratus.platform': 'k8s-test',
      'dev.stratus.instance': s.instanceId,
      'dev.stratus.role': 'function',
      'dev.stratus.function': 'hello',
      'dev.stratus.version': '1',
      'dev.stratus.runtime': 'node',
      'dev.stratus.network': 'egress',
    });
    const podSpec = pod.spec!;
    expect(podSpec.restartPolicy).toBe('Never');
    expect(podSpec.automountServiceAccountToken).toBe(false);
    const c = podSpec.containers[0]!;
    expect(c.image).toBe(IMAGE);
    expect(c.resources).toEqual({ limits: { memory: '128Mi' }, requests: { memory: '128Mi' } });
    expect(c.securityContext).toEqual({
      runAsUser: 10001,
      runAsGroup: 10001,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.env).toEqual(expect.arrayContaining([
      { name: 'GREETING', value: 'hi' },
      { name: 'PORT', value: '8080' },
      { name: 'STRATUS_HANDLER', value: 'index.handler' },
      { name: 'STRATUS_FUNCTION_NAME', value: 'hello' },
      { name: 'STRATUS_FUNCTION_VERSION', value: '1' },
    ]));
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(podSpec.volumes).toEqual([{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } }]);
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/healthz', port: 8080 });
    expect(pod.status!.phase).toBe('Running');
    expect(pod.status!.podIP).toBe('127.0.0.1');
    expect(api.requests.filter((r) => r.startsWith('POST'))).toContain(`POST /api/v1/namespaces/${NS}/pods`);

    expect(h.endpoint).toMatchObject({ kind: 'tcp', host: '127.0.0.1' });
    expect(h.backendRef).toBe(`pod/${NS}/stratus-${s.instanceId}`);
    const res = await callEndpoint(h.endpoint, { path: '/greet', headers: { 'x-stratus-request-id': 'r1' } });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ message: 'hello from node', function: 'hello', version: 1, path: '/greet' });
    expect(await backend.diagnose(s.instanceId)).toBeNull();
    await backend.stop(s.instanceId);
  });

  it('lists only this platform\'s pods, by label, and stop deletes idempotently', async () => {
    const other = open({ platformId: 'someone-else' });
    const mine = await backend.start(spec({ function: 'listed', version: 4 }));
    const theirs = await other.start(spec());
    const listed = await backend.list();
    expect(listed.map((i) => i.instanceId)).toContain(mine.instanceId);
    expect(listed.map((i) => i.instanceId)).not.toContain(theirs.instanceId);
    expect(listed.find((i) => i.instanceId === mine.instanceId)).toMatchObject({ role: 'function', runtime: 'node', function: 'listed', version: 4, endpoint: mine.endpoint });
    expect(api.requests).toContain(`GET /api/v1/namespaces/${NS}/pods?labelSelector=dev.stratus.platform%3Dk8s-test`);

    await backend.stop(mine.instanceId, { graceMs: 1000 });
    expect((await backend.list()).map((i) => i.instanceId)).not.toContain(mine.instanceId);
    await vi.waitFor(() => expect(api.pod(NS, `stratus-${mine.instanceId}`)).toBeUndefined(), { timeout: 10_000 });
    await backend.stop(mine.instanceId); // 404: already gone
    await backend.stop('never-started');
    expect(await backend.diagnose(mine.instanceId)).toEqual({ instanceId: mine.instanceId, reason: 'killed', exitCode: null });
    await other.stop(theirs.instanceId, { graceMs: 0 });
  });

  it('reports an OOMKilled container through diagnose and onExit, across a watch that ends and a 410 Expired', async () => {
    const exits: InstanceExit[] = [];
    const off = backend.onExit((e) => exits.push(e));
    await backend.eventsReady();
    const a = await backend.start(spec());
    kubelet.oomKill(NS, `stratus-${a.instanceId}`);
    await vi.waitFor(() => expect(exits).toContainEqual({ instanceId: a.instanceId, reason: 'oom', exitCode: 137 }), { timeout: 10_000 });
    expect(await backend.diagnose(a.instanceId)).toEqual({ instanceId: a.instanceId, reason: 'oom', exitCode: 137 });

    // The API server ends watches (timeouts, restarts) and compacts history: the watch comes back and lists again.
    const b = await backend.start(spec());
    api.compact();
    api.endWatches();
    kubelet.oomKill(NS, `stratus-${b.instanceId}`);
    await vi.waitFor(() => expect(exits).toContainEqual({ instanceId: b.instanceId, reason: 'oom', exitCode: 137 }), { timeout: 10_000 });
    expect(exits.filter((e) => e.instanceId === b.instanceId)).toHaveLength(1);
    // Initial watch, the one from the compacted version (410 Expired), the one after listing again.
    await vi.waitFor(() => expect(api.requests.filter((r) => r.includes('watch=true')).length).toBeGreaterThanOrEqual(3));

    // A pod deleted while the API server was unavailable: the re-list finds it missing.
    const c = await backend.start(spec());
    api.unavailable = true;
    api.endWatches();
    api.removePod(NS, `stratus-${c.instanceId}`);
    api.compact();
    api.unavailable = false;
    await vi.waitFor(() => expect(exits).toContainEqual({ instanceId: c.instanceId, reason: 'killed', exitCode: null }), { timeout: 10_000 });
    off();
    await backend.stop(a.instanceId, { graceMs: 0 });
    await backend.stop(b.instanceId, { graceMs: 0 });
  });

  it('a pod deleted by someone else is reported as killed; a pod Stratus stops is not reported', async () => {
    const exits: InstanceExit[] = [];
    const off = backend.onExit((e) => exits.push(e));
    await backend.eventsReady();
    const stopped = await backend.start(spec());
    const foreign = await backend.start(spec());
    await backend.stop(stopped.instanceId, { graceMs: 0 });
    const outsider = open({ platformId: 'k8s-test' }); // another client deleting our pod, as kubectl would
    await outsider.stop(foreign.instanceId, { graceMs: 0 });
    await vi.waitFor(() => expect(exits.map((e) => e.instanceId)).toContain(foreign.instanceId), { timeout: 10_000 });
    expect(exits.map((e) => e.instanceId)).not.toContain(stopped.instanceId);
    off();
  });

  it('fails a start that times out, or whose image cannot be pulled, and deletes the pod', async () => {
    const quick = open({ startTimeoutMs: 300 });
    const held = spec();
    kubelet.holdPending = (pod) => pod.metadata?.name === `stratus-${held.instanceId}`;
    const timedOut = await startFails(quick, held);
    expect(timedOut.code).toBe('INSTANCE_START_FAILED');
    expect(timedOut.message).toMatch(/not ready within 300 ms.*Pending.*Unschedulable/);
    expect(api.pod(NS, `stratus-${held.instanceId}`)).toBeUndefined();
    kubelet.holdPending = () => false;

    const missing = spec({ image: '127.0.0.1:5000/stratus/missing:1' });
    const pull = await startFails(backend, missing);
    expect(pull.code).toBe('INSTANCE_START_FAILED');
    expect(pull.message).toMatch(/cannot start its container: ErrImagePull/);
    expect(api.pod(NS, `stratus-${missing.instanceId}`)).toBeUndefined();

    const crash = spec({ handler: 'nope.handler' }); // the runtime exits 1: no such module
    const crashed = await startFails(backend, crash);
    expect(crashed.message).toMatch(/exited with code 1/);
    await vi.waitFor(() => expect(api.pod(NS, `stratus-${crash.instanceId}`)).toBeUndefined(), { timeout: 10_000 });
  });

  it('turns 409 AlreadyExists, 500 and 403 from the API into clear errors, and leaves another instance\'s pod alone', async () => {
    const s = spec();
    const first = await backend.start(s);
    const dup = await startFails(backend, s);
    expect(dup.code).toBe('INSTANCE_START_FAILED');
    expect(dup.message).toContain(`creating pod stratus-${s.instanceId} in namespace ${NS}: it already exists (409 AlreadyExists)`);
    expect((await callEndpoint(first.endpoint, { path: '/', headers: { 'x-stratus-request-id': 'r2' } })).status).toBe(200);

    api.failNext('POST', /\/pods$/, 500, 'InternalError', 'etcdserver: request timed out');
    const e500 = await startFails(backend, spec());
    expect(e500.message).toMatch(/the Kubernetes API answered 500 InternalError: etcdserver: request timed out/);
    expect(e500.message).not.toMatch(/Headers|HTTP-Code/);

    api.failNext('POST', /\/pods$/, 403, 'Forbidden', 'pods is forbidden: User "system:serviceaccount:stratus:gateway" cannot create resource "pods"');
    const e403 = await startFails(backend, spec());
    expect(e403.message).toMatch(/forbidden \(403\).*needs create\/get\/list\/watch\/patch\/delete on pods and get on pods\/log in namespace stratus-test/);
    await backend.stop(s.instanceId, { graceMs: 0 });
  });

  it('refuses stems without a code URL issuer, ignores memory changes, and closes twice without leaking', async () => {
    const b = open();
    expect(b.supportsStems).toBe(false);
    const h = await b.start(spec());
    await expect(b.stageCode(h, HELLO)).rejects.toMatchObject({ code: 'INSTANCE_START_FAILED', message: expect.stringMatching(/stems are not available on this Kubernetes platform: set STRATUS_INTERNAL_URL/) });
    await b.setLimits(h.instanceId, { memoryMb: 512, cpus: null });
    expect(api.pod(NS, `stratus-${h.instanceId}`)!.spec!.containers[0]!.resources!.limits).toEqual({ memory: '128Mi' });
    b.onExit(() => {});
    await b.eventsReady();
    await b.stop(h.instanceId, { graceMs: 0 });
    await Promise.all([b.close(), b.close()]);
    await b.close();
    await expect(b.start(spec())).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });
});

describe('opening the kubernetes backend from config', () => {
  const config = (extra: Record<string, string> = {}) => loadConfig({ STRATUS_BACKEND: 'kubernetes', STRATUS_K8S_NAMESPACE: NS, ...extra });

  it('parses STRATUS_K8S_* with defaults', () => {
    expect(loadConfig({ STRATUS_BACKEND: 'kubernetes' }).backend.kubernetes).toEqual({ namespace: 'stratus', context: undefined });
    expect(config({ STRATUS_K8S_CONTEXT: 'prod' }).backend.kubernetes).toEqual({ namespace: NS, context: 'prod' });
    expect(() => loadConfig({ STRATUS_K8S_NAMESPACE: 'Not_A_Namespace' })).toThrow(/STRATUS_K8S_NAMESPACE/);
    expect(config({ STRATUS_INTERNAL_URL: 'http://stratus-gateway.stratus.svc:8080' }).backend).toMatchObject({ internalUrl: 'http://stratus-gateway.stratus.svc:8080', stemCode: 'link' });
    expect(() => config({ STRATUS_INTERNAL_URL: 'stratus-gateway:8080' })).toThrow(/STRATUS_INTERNAL_URL/);
    expect(() => config({ STRATUS_STEM_CODE: 'copy' })).toThrow(/STRATUS_STEM_CODE/);
    expect(loadConfig({}).backend.kind).toBe('auto');
  });

  it('opens against a reachable API and fails loudly, without a fallback, otherwise', async () => {
    const api = new FakeKubeApi();
    const server = await api.listen();
    try {
      const b = await openKubernetesBackend(config(), 'p', silentLogger, () => kubeConfigFor(server));
      expect(b.kind).toBe('kubernetes');
      expect(b.supportsStems).toBe(false); // no STRATUS_INTERNAL_URL: no code URLs, no stems
      await b.close();
      const withCode = await openKubernetesBackend(config(), 'p', silentLogger, () => kubeConfigFor(server), { issue: async () => ({ codeUrl: 'http://stratus.invalid/internal/code/f/1', sha256: '0'.repeat(64) }) });
      expect(withCode.supportsStems).toBe(true);
      await withCode.close();

      await expect(openKubernetesBackend(config({ STRATUS_K8S_CONTEXT: 'nope' }), 'p', silentLogger, () => kubeConfigFor(server)))
        .rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/STRATUS_K8S_CONTEXT=nope is not a context/) });

      api.failNext('GET', /\/pods$/, 403, 'Forbidden', 'pods is forbidden');
      await expect(openKubernetesBackend(config(), 'p', silentLogger, () => kubeConfigFor(server)))
        .rejects.toMatchObject({ message: expect.stringMatching(/forbidden \(403\).*deploy\/rbac.yaml/) });

      // What KubeConfig.loadFromDefault() falls back to when nothing is configured: refused before any request.
      const nothing = new KubeConfig();
      nothing.loadFromClusterAndUser({ name: 'cluster', server: 'http://localhost:8080', skipTLSVerify: false }, { name: 'user' });
      await expect(openKubernetesBackend(config(), 'p', silentLogger, () => nothing)).rejects.toMatchObject({ message: expect.stringMatching(/no cluster is configured/) });
    } finally {
      await api.close();
    }
    // The API server is gone now: same port, nothing listening.
    await expect(openKubernetesBackend(config(), 'p', silentLogger, () => kubeConfigFor(server)))
      .rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/could not be reached/) });
  });
});
