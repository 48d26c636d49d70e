// Metering end to end on real Docker, Redis and the registry (issue 10 item 2): a 128 MB function that
// sleeps 50 ms, called sync and async; GET /v1/usage is exactly Σ billedMs × 128 of its invocation
// records (integer equality), /metrics counts the same; after a restart on the same state dir (same Redis
// prefix) the usage is the same and the new process's counters start from nothing; more calls add up;
// a delete drops the function's series from /metrics and keeps its usage.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing, REDIS_URL } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';
import { until } from '../support/until.js';

const SLEEPER = `export default async () => {
  await new Promise((r) => setTimeout(r, 50));
  return { slept: 50 };
};`;

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('metering (Docker, Redis, registry)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  const name = `metered-${Date.now().toString(36)}`;
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, ...(init.headers as Record<string, string>) } });

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-metering-'));
    platform = await startPlatform(e2eConfig(stateDir), silentLogger);
    const res = await deployFunction(platform, { name, runtime: 'node', memoryMb: 128 }, { file: 'index.mjs', content: SLEEPER });
    expect(res.status).toBe(202);
    expect(await waitForBuild(platform, (await res.json()).buildId)).toMatchObject({ status: 'succeeded', error: null });
  }, 600_000);

  afterAll(async () => {
    // The test deletes the function itself; this delete is for a run that failed before (its images go too).
    if (platform) await api(`/v1/functions/${name}`, { method: 'DELETE' }).finally(() => platform.stop());
    // Usage outlives the function on purpose: leave nothing of this run's platform in the shared Redis.
    await removeRedisKeys(REDIS_URL, `${platformIdFor(stateDir)}:`);
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  /** n sync calls and m async ones, then every record of the function once all of them are stored. */
  async function call(sync: number, async: number, expectedRecords: number): Promise<InvocationRecord[]> {
    for (let i = 0; i < sync; i++) {
      const res = await fetch(`${platform.url}/fn/${name}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ slept: 50 });
    }
    for (let i = 0; i < async; i++) {
      expect((await api(`/v1/functions/${name}/invocations`, { method: 'POST', body: JSON.stringify({ i }), headers: { 'content-type': 'application/json' } })).status).toBe(202);
    }
    return until(`${expectedRecords} invocation records`, async () => {
      const { invocations } = (await (await api(`/v1/functions/${name}/invocations?limit=1000`)).json()) as { invocations: InvocationRecord[] };
      return invocations.length === expectedRecords && invocations.every((r) => r.outcome === 'succeeded') ? invocations : undefined;
    }, 120_000, 100);
  }

  const usage = async () => {
    const res = await api(`/v1/usage?function=${name}`);
    expect(res.status).toBe(200);
    return (await res.json()) as { functions: Array<{ function: string; total: { requests: number; failed: number; mbMs: number; gbSeconds: string } }>; total: { mbMs: number } };
  };
  const billed = (records: InvocationRecord[]) => records.reduce((sum, r) => sum + r.billedMs * r.memoryMb, 0);
  const counter = async (metric: string): Promise<number | null> => {
    const text = await (await api('/metrics')).text();
    const line = text.split('\n').find((l) => l.startsWith(`${metric}{function="${name}"} `));
    return line === undefined ? null : Number(line.split(' ')[1]);
  };

  it('bills N sync and async calls as exactly Σ billedMs × 128 of their records, and keeps it across a restart and a delete', async () => {
    const records = await call(6, 4, 10);
    expect(records.map((r) => r.trigger).sort()).toEqual([...Array(4).fill('async'), ...Array(6).fill('http')]);
    for (const r of records) {
      expect(r.memoryMb).toBe(128);
      expect(Number.isInteger(r.billedMs) && r.billedMs >= 50 && r.billedMs >= r.durationMs && r.billedMs < r.durationMs + 1).toBe(true);
    }
    const expected = billed(records);
    const before = await usage();
    expect(before.functions).toHaveLength(1);
    expect(before.functions[0]!.total).toMatchObject({ requests: 10, failed: 0, mbMs: expected });
    expect(Number(before.functions[0]!.total.gbSeconds)).toBe(expected / 1_024_000);
    expect(await counter('stratus_billed_requests_total')).toBe(10);
    expect(await counter('stratus_billed_gb_seconds_total')).toBeCloseTo(expected / 1_024_000, 9);

    await platform.stop();
    platform = await startPlatform(e2eConfig(stateDir), silentLogger);
    expect(await usage()).toEqual(before);
    // Counters are this process's, since it started: none for the function yet.
    expect(await counter('stratus_billed_requests_total')).toBeNull();

    const after = await call(3, 2, 15);
    const added = after.filter((r) => !records.some((old) => old.id === r.id));
    expect(added).toHaveLength(5);
    const now = await usage();
    expect(now.functions[0]!.total).toMatchObject({ requests: 15, failed: 0, mbMs: expected + billed(added) });
    expect(now.functions[0]!.total.mbMs).toBe(billed(after));
    expect(await counter('stratus_billed_requests_total')).toBe(5);

    // A delete drops the function's series from /metrics, and keeps its bill.
    expect((await api(`/v1/functions/${name}`, { method: 'DELETE' })).status).toBe(204);
    expect(await counter('stratus_billed_requests_total')).toBeNull();
    expect(await counter('stratus_billed_gb_seconds_total')).toBeNull();
    expect((await usage()).functions[0]!.total.mbMs).toBe(billed(after));
  }, 300_000);
});
