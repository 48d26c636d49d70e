// One gateway for a unit test: createApp over a MemoryStore, the fake builder and fake scheduler, and a
// tiny "instance" HTTP server on a unix socket in a temp dir that each test programs.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createApp, type GatewayApp, type GatewayDeps } from '../../gateway/app.js';
import { ServedVersions } from '../../control/releases/served-versions.js';
import { loadConfig, type Config } from '../../core/config.js';
import { systemClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import { FakeBuilder } from './fake-builder.js';
import { FakeScheduler } from './fake-scheduler.js';

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

export async function startHarness(env: Record<string, string> = {}, extra: Pick<GatewayDeps, 'records' | 'asyncQueue' | 'storageTriggers' | 'notifications' | 'images' | 'storage'> = {}): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-gw-'));
  const socketPath = path.join(dir, 'instance.sock');
  const instance = { handle: ((_req, res) => res.end('ok')) as http.RequestListener };
  const server = http.createServer((req, res) => instance.handle(req, res));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));

  const config = loadConfig({ STRATUS_STATE_DIR: path.join(dir, 'state'), ...env });
  const store = new MemoryStore();
  const builder = new FakeBuilder(store);
  const scheduler = new FakeScheduler({ kind: 'unix', socketPath });
  const metrics = new RecordingMetrics();
  // Prewarm and retire as the composition root wires them (platform/start-platform.ts).
  const served = new ServedVersions({ store, scheduler, logger: silentLogger, rollbackWarmMs: config.releases.rollbackWarmMs });
  await served.start();
  const app = createApp({
    config, store, builder, scheduler, metrics, logger: silentLogger, apiKey: API_KEY, backendKind: 'process', clock: systemClock,
    registry: { render: () => 'stratus_up 1\n' }, buildLogPollMs: 10, ...extra,
  });
  return {
    app, config, store, builder, scheduler, metrics, instance,
    close: async () => {
      await app.close();
      await served.close();
      await scheduler.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
