// One gateway for a unit test: the platform as the composition root wires it (test-platform.ts) over a
// MemoryStore, the fake builder and fake scheduler, and a tiny "instance" HTTP server on a unix socket in a
// temp dir that each test programs.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { GatewayApp } from '../../gateway/app.js';
import { loadConfig, type Config } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import { FakeBuilder } from './fake-builder.js';
import { FakeScheduler } from './fake-scheduler.js';
import { testPlatform, type TestPlatformParts } from './test-platform.js';

export const API_KEY = 'test-key-0123456789abcdef';
export const auth = { Authorization: `Bearer ${API_KEY}` };

export class RecordingMetrics {
  readonly calls: Array<{ metric: string; labels: Record<string, string>; value?: number }> = [];
  invocations = { inc: (labels: Record<string, string>) => void this.calls.push({ metric: 'invocations', labels }) };
  invocationSeconds = { observe: (labels: Record<string, string>, value: number) => void this.calls.push({ metric: 'invocationSeconds', labels, value }) };
  coldStartPhaseSeconds = { observe: (labels: Record<string, string>, value: number) => void this.calls.push({ metric: 'coldStartPhaseSeconds', labels, value }) };
}

export interface Harness {
  app: GatewayApp;
  config: Config;
  store: MemoryStore;
  builder: FakeBuilder;
  scheduler: FakeScheduler;
  metrics: RecordingMetrics;
  /** The instance's request handler; replace per test. */
  instance: { handle: http.RequestListener };
  close(): Promise<void>;
}

/** What a test may plug in besides the fakes: its own record sink or queue, the MinIO hook's receiver, the optional routers' services. */
export interface HarnessExtras extends Pick<TestPlatformParts, 'records' | 'asyncQueue' | 'images' | 'storage' | 'codeRoute'> {
  storageTriggers?: TestPlatformParts['minioEvents'];
  notifications?: TestPlatformParts['deliveries'];
}

export async function startHarness(env: Record<string, string> = {}, extra: HarnessExtras = {}): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-gw-'));
  const socketPath = path.join(dir, 'instance.sock');
  const instance = { handle: ((_req, res) => res.end('ok')) as http.RequestListener };
  const server = http.createServer((req, res) => instance.handle(req, res));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));

  // No automatic rollback unless a test asks: the harness's calls are a test's, not traffic to judge a version by.
  const config = loadConfig({ STRATUS_STATE_DIR: path.join(dir, 'state'), STRATUS_AUTO_ROLLBACK: 'off', ...env });
  const store = new MemoryStore();
  const builder = new FakeBuilder(store);
  const scheduler = new FakeScheduler({ kind: 'unix', socketPath });
  const metrics = new RecordingMetrics();
  const { storageTriggers, notifications, ...parts } = extra;
  const platform = testPlatform({
    config, store, builder, scheduler, metrics, logger: silentLogger, apiKey: API_KEY, backendKind: 'process',
    registry: { render: () => 'stratus_up 1\n' }, buildLogPollMs: 10, minioEvents: storageTriggers, deliveries: notifications, ...parts,
  });
  // Prewarm and retire follow the aliases as in the platform; the other loops are not started: a test starts
  // the async queue's worker itself when it wants one, and no cron fires behind its back.
  await platform.servedVersions.start();
  const app = platform.app;
  return {
    app, config, store, builder, scheduler, metrics, instance,
    close: async () => {
      await platform.stop(); // the app, the services, the scheduler and the store, by the platform's own shutdown stack
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
