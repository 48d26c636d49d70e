// Stems and function logs on Kubernetes, against the fake API server and kubelet stand-in (no cluster: see
// kubernetes-backend.test.ts for what that proves and what not). The scheduler runs over the Kubernetes
// backend with stems: a stem pod of the runtime image starts ahead of demand, a cold start claims it and
// POSTs /init with a signed code URL, and the stem fetches its code from the code route over HTTP (here
// Stratus on 127.0.0.1; on a cluster the gateway Service). What the pod writes comes back through the pod
// log API (follow, timestamps) into the function's logs, found by request id.
// Needs only node; nothing but 127.0.0.1.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeUrlKey } from '../../core/code-url.js';
import { parseFunctionConfig } from '../../core/function-config.js';
import { systemClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { MemoryStore } from '../../core/store/memory.js';
import type { DeployedVersion } from '../../core/types.js';
import { LogCollector } from '../../control/logs/log-collector.js';
import { createCodeRoute } from '../../gateway/dataplane/code-route.js';
import { isLogSource } from '../../scheduler/backends/backend.js';
import { KubernetesBackend } from '../../scheduler/backends/kubernetes.js';
import { CodeArchives } from '../../scheduler/code/code-archives.js';
import { SignedCodeUrls } from '../../scheduler/code/code-urls.js';
import { createScheduler, type PoolScheduler } from '../../scheduler/index.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { FakeKubelet } from '../support/fake-kubelet.js';
import { until } from '../support/until.js';

const NS = 'stratus-stems';
const RUNTIME_IMAGES = { node: '127.0.0.1:5000/stratus/runtime-node:test', python: '127.0.0.1:5000/stratus/runtime-python:test' };
const FN_IMAGE = '127.0.0.1:5000/stratus/modes:1';
const MODES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'functions', 'node-modes');
const EMPTY = path.join(PROJECT_ROOT, 'test', 'fixtures', 'functions', 'node-hello'); // a stem loads nothing at start

function kubeConfigFor(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'tester', token: 'not-a-secret' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'tester', namespace: NS }],
    currentContext: 'fake',
  });
  return kc;
}

function get(lease: { requestOptions: http.RequestOptions; agent: http.Agent }, urlPath: string, requestId: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = { 'x-stratus-request-id': requestId, 'x-stratus-deadline-ms': String(Date.now() + 30_000) };
    const req = http.request({ ...lease.requestOptions, agent: lease.agent, path: urlPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('stems on kubernetes: code over a signed URL, logs through the pod log API (fake API server)', () => {
  const api = new FakeKubeApi();
  const kubelet = new FakeKubelet(api, { [RUNTIME_IMAGES.node]: EMPTY, [FN_IMAGE]: MODES });
  const key = codeUrlKey('the admin key of this platform');
  const archives = new CodeArchives({ lookup: async (fn, v) => ((fn === 'modes' || fn === 'big') && v === 1 ? { artifactDir: MODES, tag: `build-${fn}` } : null), store: null, logger: silentLogger });
  const codeServer = http.createServer(createCodeRoute({ key, archives, clock: systemClock, logger: silentLogger }));
  const codeRequests: string[] = [];
  codeServer.on('request', (req: http.IncomingMessage) => codeRequests.push(req.url ?? ''));
  const store = new MemoryStore();
  const v: DeployedVersion = { function: 'modes', version: 1, config: parseFunctionConfig({ name: 'modes', runtime: 'node', handler: 'index.handler' }), image: FN_IMAGE, artifactDir: MODES, handler: 'index.handler' };
  // The same code with more memory than a stem pod was created with: a pod cannot be resized, so no stem serves it.
  const big: DeployedVersion = { ...v, function: 'big', config: parseFunctionConfig({ name: 'big', runtime: 'node', handler: 'index.handler', memoryMb: 512 }) };
  const versions = new Map([['modes', v], ['big', big]]);
  let backend: KubernetesBackend;
  let scheduler: PoolScheduler;
  let logs: LogCollector;
  let server = '';

  beforeAll(async () => {
    server = await api.listen();
    await new Promise<void>((r) => codeServer.listen(0, '127.0.0.1', r));
    const codeBase = `http://127.0.0.1:${(codeServer.address() as AddressInfo).port}`;
    backend = new KubernetesBackend({
      kubeConfig: kubeConfigFor(server), namespace: NS, platformId: 'k8s-stems', startTimeoutMs: 20_000, stopGraceMs: 1000, endpointFor: kubelet.endpointFor, watchRetryMs: 20,
      codeUrls: new SignedCodeUrls({ key, baseUrl: codeBase, archives, clock: systemClock, ttlMs: 10_000 }),
    });
    expect(isLogSource(backend)).toBe(true);
    logs = new LogCollector(backend, store, { flushMs: 20 });
    scheduler = createScheduler({
      backend, clock: systemClock, logger: silentLogger,
      settings: { stemPoolSize: 1, queueDepth: 10, queueTimeoutMs: 20_000, tickMs: 200, stableWindowMs: 2000, panicWindowMs: 1000, targetUtilization: 1, runtimeImages: RUNTIME_IMAGES, startTimeoutMs: 20_000 },
      lookupVersion: async (fn, n) => (n === 1 ? (versions.get(fn) ?? null) : null),
      currentVersion: async (fn) => (versions.has(fn) ? 1 : null),
    });
  });
  afterAll(async () => {
    await scheduler?.close();
    await logs?.close();
    await backend?.close();
    await kubelet.close();
    await api.close();
    codeServer.closeAllConnections();
    await new Promise((r) => codeServer.close(r));
  });

  it('scales a function from zero through a stem pod that fetched its code over HTTP', async () => {
    expect(backend.supportsStems).toBe(true);
    await scheduler.prewarm(v); // minInstances 0: only its runtime's stems start
    await until('a ready node stem', () => (scheduler.stems.readyCount('node') === 1 ? true : undefined), 20_000);
    const stemPods = api.podNames(NS);
    expect(stemPods).toHaveLength(1);
    const stemPod = api.pod(NS, stemPods[0]!)!;
    expect(stemPod.metadata!.labels!['dev.stratus.role']).toBe('stem');
    expect(stemPod.spec!.containers[0]!.image).toBe(RUNTIME_IMAGES.node);
    expect(scheduler.instances('modes')).toHaveLength(0);

    const lease = await scheduler.acquire(v, { deadline: Date.now() + 30_000 });
    try {
      expect(lease.start).toBe('stem');
      expect(lease.instance.instanceId).toBe(stemPod.metadata!.annotations!['dev.stratus.instance']);
      const res = await get(lease, '/log', 'req-k8s-log-1');
      expect(res.status, res.body).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ logged: true });
    } finally {
      lease.release('ok');
    }
    // The stem asked the code route once, with a signed URL for this version; no function pod was created for it.
    expect(codeRequests).toHaveLength(1);
    expect(codeRequests[0]).toMatch(/^\/internal\/code\/modes\/1\?expires=\d+&sig=[0-9a-f]{64}$/);
    const fnPods = api.podNames(NS).map((n) => api.pod(NS, n)!).filter((p) => p.spec!.containers[0]!.image === FN_IMAGE);
    expect(fnPods).toHaveLength(0);
    // The specialized stem's labels were patched: a restarted platform, or another replica, lists a function instance.
    expect(api.pod(NS, stemPod.metadata!.name!)!.metadata!.labels).toMatchObject({ 'dev.stratus.role': 'function', 'dev.stratus.function': 'modes', 'dev.stratus.version': '1' });
    expect(api.requests).toContain(`PATCH /api/v1/namespaces/${NS}/pods/${stemPod.metadata!.name!}`);
    const listed = (await backend.list()).find((i) => i.instanceId === lease.instance.instanceId);
    expect(listed).toMatchObject({ role: 'function', function: 'modes', version: 1 });
  });

  it("collects the function's lines by request id through the pod log API", async () => {
    const lines = await until('the invocation\'s log lines', async () => {
      await logs.flush();
      const got = await store.readLogs('modes', { requestId: 'req-k8s-log-1' });
      return got.length >= 2 ? got : undefined;
    }, 10_000);
    expect(lines.map((l) => [l.level, l.message])).toEqual([['info', 'line from req-k8s-log-1'], ['warn', 'warned']]);
    expect(lines.every((l) => l.function === 'modes' && l.version === 1)).toBe(true);
    // Followed with timestamps: the line's time is the kubelet's, not the moment it was read.
    const logRequests = api.requests.filter((r) => r.includes('/log?'));
    expect(logRequests.length).toBeGreaterThan(0);
    expect(logRequests[0]).toMatch(/container=function&follow=true.*timestamps=true/);
  });

  it('starts a version whose limits differ from the stem pool\'s in a pod of its own image, leaving the stem', async () => {
    expect(scheduler.stems.memoryMb).not.toBe(512);
    await until('a ready node stem', () => (scheduler.stems.readyCount('node') === 1 ? true : undefined), 20_000);
    const stem = api.podNames(NS).find((n) => api.pod(NS, n)!.metadata!.labels!['dev.stratus.role'] === 'stem')!;
    const lease = await scheduler.acquire(big, { deadline: Date.now() + 30_000 });
    try {
      expect(lease.start).toBe('container');
      expect(api.pod(NS, stem)!.metadata!.labels!['dev.stratus.role']).toBe('stem'); // not claimed, not stopped
      expect(api.pod(NS, `stratus-${lease.instance.instanceId}`)!.spec!.containers[0]!.resources!.limits).toEqual({ memory: '512Mi' });
      expect((await get(lease, '/value', 'req-big')).status).toBe(200);
    } finally {
      lease.release('ok');
    }
    expect(scheduler.stems.readyCount('node')).toBe(1);
  });

  it('answers the pod log API as the API server does', async () => {
    const [name] = api.podNames(NS);
    const base = await fetch(`${server}/api/v1/namespaces/${NS}/pods/${name}/log?container=function&timestamps=true`);
    expect(base.status).toBe(200);
    expect(base.headers.get('content-type')).toBe('text/plain');
    const text = await base.text();
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stratus-runtime: listening/m);
    expect((await fetch(`${server}/api/v1/namespaces/${NS}/pods/${name}/log?container=nope`)).status).toBe(400);
    expect((await fetch(`${server}/api/v1/namespaces/${NS}/pods/stratus-nobody/log`)).status).toBe(404);
  });

  it('tries a log stream the API server refused again, and loses nothing written meanwhile', async () => {
    const seen: string[] = [];
    const off = backend.onLog((l) => seen.push(l.text));
    api.failNext('GET', /\/log$/, 500, 'InternalError', 'the kubelet did not answer');
    const h = await backend.start({ instanceId: `retry-${process.pid}`, role: 'function', runtime: 'node', function: 'modes', version: 1, image: FN_IMAGE, artifactDir: null, handler: 'index.handler', memoryMb: 256, cpus: null, network: 'egress', env: {} });
    try {
      const res = await get({ requestOptions: { host: (h.endpoint as { host: string }).host, port: (h.endpoint as { port: number }).port }, agent: new http.Agent() }, '/log', 'req-retry');
      expect(res.status).toBe(200);
      await until('the line written while the stream was refused', () => (seen.some((t) => t.includes('line from req-retry')) ? true : undefined), 10_000);
      expect(api.requests.filter((r) => r.includes(`/pods/stratus-${h.instanceId}/log?`)).length).toBeGreaterThanOrEqual(2);
    } finally {
      off();
      await backend.stop(h.instanceId, { graceMs: 0 });
    }
  });

  it('closes every pod log stream once nobody listens', async () => {
    expect(backend.openLogStreams).toBeGreaterThan(0);
    await logs.close();
    expect(backend.openLogStreams).toBe(0);
  });
});
