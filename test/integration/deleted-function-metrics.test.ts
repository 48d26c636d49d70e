// A deleted function leaves no series on /metrics (issue 10, item 3): deploy, call, delete on a real
// platform (process backend, real builder, scheduler and registry; no service needed) and read /metrics.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';

const CODE = 'export default async function () {\n  return { ok: true };\n}\n';

describe('metrics of a deleted function', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  const auth = () => ({ authorization: `Bearer ${platform.apiKey}` });
  const scrape = async () => (await fetch(`${platform.url}/metrics`, { headers: auth() })).text();

  beforeAll(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-metrics-gone-'));
    platform = await startPlatform(
      loadConfig({ STRATUS_PORT: '0', STRATUS_STATE_DIR: stateDir, STRATUS_API_KEY: 'test-key-0123456789abcdef', STRATUS_STORE: 'memory', STRATUS_BACKEND: 'process', STRATUS_STEM_POOL_SIZE: '0', STRATUS_S3_PORT: 'off', PATH: process.env.PATH }),
      silentLogger,
    );
  });
  afterAll(async () => {
    await platform?.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('are gone from /metrics once it is deleted; another function keeps its own', async () => {
    for (const name of ['doomed', 'keeper']) {
      const res = await deployFunction(platform, { name, runtime: 'node' }, { file: 'index.js', content: CODE });
      const build = await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId, 60_000);
      expect(build.status, build.error ?? '').toBe('succeeded');
      expect((await fetch(`${platform.url}/fn/${name}`)).status).toBe(200);
    }
    const before = await scrape();
    for (const metric of ['stratus_invocations_total', 'stratus_invocation_seconds_count', 'stratus_cold_starts_total', 'stratus_dispatch_seconds_count']) {
      expect(before, metric).toMatch(new RegExp(`^${metric}\\{[^}]*function="doomed"`, 'm'));
    }

    const del = await fetch(`${platform.url}/v1/functions/doomed`, { method: 'DELETE', headers: auth() });
    expect(del.status).toBeLessThan(300);
    const after = await scrape();
    expect(after.split('\n').filter((line) => line.includes('"doomed"'))).toEqual([]);
    expect(after).toMatch(/^stratus_invocations_total\{[^}]*function="keeper"/m);
  });
});
