// Who builds images when Stratus runs on a cluster (platform/boot/open-backend.ts): a replica whose Docker
// socket is there is a build worker — it gets a Docker client beside the Kubernetes backend, and so takes
// build jobs (platform/start-platform.ts: takesBuilds) — and one without (a gateway pod) gets none and says
// so. Against the fake Kubernetes API server (test/support/fake-kube-api.ts) and the machine's real Docker.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import { openBackend } from '../../platform/boot/open-backend.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { DOCKER_SOCKET, missing } from '../support/services.js';

const NS = 'stratus-build-worker';

function recordingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: 'debug', write: (l) => lines.push(l) }) };
}

describe.skipIf(await missing('docker'))('a build worker on Kubernetes (fake API server, real Docker)', () => {
  let api: FakeKubeApi;
  let tmp: string;
  const saved = process.env.KUBECONFIG;

  beforeAll(async () => {
    api = new FakeKubeApi();
    const server = await api.listen();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-build-worker-'));
    const kubeconfig = path.join(tmp, 'kubeconfig');
    await fs.writeFile(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
      clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'tester', user: { token: 'not-a-secret' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester', namespace: NS } }],
    }));
    // How a pod outside a cluster finds its API server: the kubeconfig the client loads by default.
    process.env.KUBECONFIG = kubeconfig;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
    await api.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('opens Docker beside the Kubernetes backend when the socket is there: this replica builds and pushes images', async () => {
    const { lines, logger } = recordingLogger();
    const config = loadConfig({ STRATUS_STATE_DIR: path.join(tmp, 'worker'), STRATUS_BACKEND: 'kubernetes', STRATUS_K8S_NAMESPACE: NS, STRATUS_DOCKER_SOCKET: DOCKER_SOCKET });
    const { backend, docker } = await openBackend(config, 'worker', logger);
    try {
      expect(backend.kind).toBe('kubernetes');
      expect(docker).not.toBeNull();
      expect(String(await docker!.ping())).toBe('OK');
      expect(lines.join('\n')).toMatch(/build worker: Docker on .* builds function images and pushes them to/);
    } finally {
      await backend.close();
    }
  });

  it('opens none without a socket: this replica queues builds for a worker and says so', async () => {
    const { lines, logger } = recordingLogger();
    const config = loadConfig({ STRATUS_STATE_DIR: path.join(tmp, 'gateway'), STRATUS_BACKEND: 'kubernetes', STRATUS_K8S_NAMESPACE: NS, STRATUS_DOCKER_SOCKET: path.join(tmp, 'no-docker.sock') });
    const { backend, docker } = await openBackend(config, 'gateway', logger);
    try {
      expect(backend.kind).toBe('kubernetes');
      expect(docker).toBeNull();
      expect(lines.join('\n')).toMatch(/no Docker engine .*builds wait for a build worker/);
    } finally {
      await backend.close();
    }
  });
});
