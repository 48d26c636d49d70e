// Stratus on Kubernetes end to end, against the fake API server and kubelet stand-in (NO CLUSTER RUNS HERE:
// see kubernetes-backend.test.ts for what that proves and what not). Three real Stratus processes as
// `npm start` runs them, with STRATUS_BACKEND=kubernetes and a kubeconfig naming the fake API server: two
// gateways without a Docker engine, and a build worker with one. A function uploaded through a gateway is
// built by the worker (image pushed to the registry), rolled out as a pod, and both gateways route to that
// one pod; idle, the leader scales it to zero; the next call through the other gateway starts it from a stem
// pod that fetched its code over HTTP with a signed URL. The kubelet stand-in gives each pod its own loopback
// address (podIP:8080, as on a cluster) and runs a function image's code copied out of the real image.
// Needs Docker (the worker's engine, and the image the stand-in copies code from), Redis and the registry.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../core/paths.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { FakeKubelet } from '../support/fake-kubelet.js';
import { freePort } from '../support/redis-server.js';
import { DOCKER_SOCKET, missing, REDIS_URL } from '../support/services.js';
import { removeRedisKeys, startStratus, type StratusProcess } from '../support/stratus-process.js';
import { until } from '../support/until.js';

const run = promisify(execFile);
const KEY = 'kubernetes-platform-key-0123456789';
const NS = 'stratus-e2e';
const RUNTIME_IMAGE = 'stratus/runtime-node:latest';
const STEM_CODE = path.join(PROJECT_ROOT, 'test', 'fixtures', 'functions', 'node-hello'); // a stem loads nothing at start
// Says which pod ran it: the kubelet stand-in runs each pod as a process of its own.
const CODE = 'export default async () => ({ pid: process.pid });\n';

const docker = new Docker({ socketPath: DOCKER_SOCKET });
const scratch: string[] = [];

/** "Pulls" a function image: its /app, copied out of the image through Docker (the worker built it there). */
async function pull(image: string): Promise<string | null> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-e2e-image-'));
  scratch.push(dir);
  const { stdout } = await run('docker', ['create', image]);
  const id = stdout.trim();
  try {
    await run('docker', ['cp', `${id}:/app/.`, dir]);
  } finally {
    await run('docker', ['rm', '-f', id]);
  }
  return dir;
}

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('Stratus on Kubernetes, end to end (fake API server, two gateways and a build worker)', () => {
  const api = new FakeKubeApi();
  const kubelet = new FakeKubelet(api, { [RUNTIME_IMAGE]: STEM_CODE }, { podNetwork: true, pull });
  const procs: StratusProcess[] = [];
  const platform = `stratus-k8s-${randomBytes(4).toString('hex')}`;

  afterAll(async () => {
    for (const p of procs) await p.kill('SIGTERM');
    await kubelet.close();
    await api.close();
    await removeRedisKeys(REDIS_URL, `${platform}:`);
    for (const img of await docker.listImages({ filters: { reference: [`*/${platform}/*`] } })) await docker.getImage(img.Id).remove({ force: true }).catch(() => {});
    for (const d of scratch) await fs.rm(d, { recursive: true, force: true });
  });

  it('deploys through one gateway, builds on the worker, shares the pod between gateways, and scales from zero through a stem', async () => {
    const server = await api.listen();
    const kubeconfig = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-e2e-kube-')), 'config');
    scratch.push(path.dirname(kubeconfig));
    await fs.writeFile(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
      clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'tester', user: { token: 'not-a-secret' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester', namespace: NS } }],
    }));
    const portA = await freePort();
    const env = async (port: number, dockerSocket: string) => {
      const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-e2e-'));
      scratch.push(stateDir);
      return {
        KUBECONFIG: kubeconfig, STRATUS_BACKEND: 'kubernetes', STRATUS_K8S_NAMESPACE: NS, STRATUS_PLATFORM_ID: platform, STRATUS_STORE: 'redis',
        STRATUS_STATE_DIR: stateDir, STRATUS_PORT: String(port), STRATUS_S3_PORT: 'off', STRATUS_DOCKER_SOCKET: dockerSocket,
        // Pods fetch stem code from a gateway (on a cluster: the gateway Service).
        STRATUS_INTERNAL_URL: `http://127.0.0.1:${portA}`, STRATUS_STEM_POOL_SIZE: '1', STRATUS_RUNTIME_IMAGE_NODE: RUNTIME_IMAGE,
        STRATUS_STABLE_WINDOW_MS: '2000', STRATUS_PANIC_WINDOW_MS: '1000', STRATUS_INSTANCE_START_TIMEOUT_MS: '60000',
      };
    };
    const noDocker = path.join(os.tmpdir(), `no-docker-${platform}.sock`);
    const a = await startStratus(KEY, await env(portA, noDocker));
    procs.push(a);
    const b = await startStratus(KEY, await env(0, noDocker));
    procs.push(b);
    const worker = await startStratus(KEY, await env(0, DOCKER_SOCKET));
    procs.push(worker);
    expect(a.log()).toContain('this replica builds no images');
    expect(worker.log()).toContain('build worker: Docker on');

    // Uploaded through gateway A, built by the worker (A and B have no Docker engine).
    const name = `e2e-${randomBytes(3).toString('hex')}`;
    const res = await deployFunction({ url: a.url, apiKey: KEY }, { name, runtime: 'node', idleTtlMs: 1000 }, { file: 'index.mjs', content: CODE });
    expect(res.status).toBe(202);
    const build = await waitForBuild({ url: a.url, apiKey: KEY }, ((await res.json()) as { buildId: string }).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
    expect(build.image).toContain(`/${platform}/`);

    // Both gateways route to the same pod.
    const pidVia = async (p: StratusProcess) => {
      const r = await fetch(`${p.url}/fn/${name}/`);
      expect(r.status, await r.clone().text()).toBe(200);
      return ((await r.json()) as { pid: number }).pid;
    };
    const pidA = await pidVia(a);
    expect(await pidVia(b)).toBe(pidA);
    expect(await pidVia(a)).toBe(pidA);
    const functionPods = () => api.podNames(NS).map((n) => api.pod(NS, n)!).filter((p) => p.metadata?.labels?.['dev.stratus.function'] === name && !p.metadata?.deletionTimestamp);
    expect(functionPods()).toHaveLength(1);

    // Idle past its TTL, the leader scales it to zero.
    await until('the function scaled to zero', () => (functionPods().length === 0 ? true : undefined), 60_000, 200);

    // The next call, through B, starts it from B's stem pod, which fetched the code over HTTP from A's code route
    // (a stem pod of the runtime image has no other way to the code: the stand-in gives it none).
    const pidB = await pidVia(b);
    expect(pidB).not.toBe(pidA);
    const instances = (await (await fetch(`${b.url}/v1/functions/${name}/instances`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { instances: { startKind: string }[] };
    expect(instances.instances.map((i) => i.startKind)).toEqual(['stem']);
    // A routes to the pod B specialized.
    expect(await pidVia(a)).toBe(pidB);
    expect(functionPods()).toHaveLength(1);
    expect(functionPods()[0]!.spec!.containers[0]!.image).toBe(RUNTIME_IMAGE);
  }, 600_000);
});
