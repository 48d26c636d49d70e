// Rollouts, rollback and canaries on real Docker, Redis and the registry, under a steady load of at least
// 50 requests a second from a keep-alive client: a new version rolls out with zero failed requests and
// the answers switch from v1 to v2; a rollback by hand fails zero requests and lands on warm instances (no
// cold start counted for v1 while it happens); a canary at 20 % gets 20 % ± 5 % of 1,000 calls; a canary
// that answers 500 is rolled back by the error-rate watch. The counts are printed for the closing note.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';
import { REDIS_URL } from '../support/services.js';
import { until } from '../support/until.js';

const code = (answer: string, status = 200) => `export default async () => ({ statusCode: ${status}, body: ${JSON.stringify(answer)} });`;

interface Load {
  statuses: Map<number, number>;
  bodies: string[];
  failures: string[];
  stop(): Promise<void>;
}

/** Sends a request every `everyMs` (not waiting for answers) over keep-alive connections until stopped. */
function steadyLoad(url: string, everyMs: number): Load {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const load: Load = { statuses: new Map(), bodies: [], failures: [], stop: async () => {} };
  const pending = new Set<Promise<void>>();
  const one = () => {
    const p = new Promise<void>((resolve) => {
      const req = http.get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          load.statuses.set(res.statusCode!, (load.statuses.get(res.statusCode!) ?? 0) + 1);
          if (res.statusCode !== 200) load.failures.push(`${res.statusCode} ${body.slice(0, 200)}`);
          else load.bodies.push(body);
          resolve();
        });
      });
      req.on('error', (err) => {
        load.failures.push(`error ${err.message}`);
        resolve();
      });
    });
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const timer = setInterval(one, everyMs);
  load.stop = async () => {
    clearInterval(timer);
    await Promise.all([...pending]);
    agent.destroy();
  };
  return load;
}

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('rollout, rollback and canaries under load (Docker, Redis, registry)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  const name = `rollout-${Date.now().toString(36)}`;
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
  const deploy = async (answer: string, status = 200) => {
    const res = await deployFunction(platform, { name, runtime: 'node', concurrency: 16 }, { file: 'index.mjs', content: code(answer, status) });
    expect(res.status).toBe(202);
    const build = await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
  };
  const coldStarts = async () => {
    const text = await (await api('/metrics')).text();
    return [...text.matchAll(new RegExp(`^stratus_cold_starts_total\\{function="${name}"[^}]*\\} (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  };

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-rollout-'));
    platform = await startPlatform(e2eConfig(stateDir, { STRATUS_AUTO_ROLLBACK_MIN_REQUESTS: '20', STRATUS_ROLLBACK_WARM_MS: '600000' }), silentLogger);
    await deploy('v1');
  }, 300_000);

  afterAll(async () => {
    if (platform) {
      await api(`/v1/functions/${name}`, { method: 'DELETE' });
      await platform.stop();
    }
    await removeRedisKeys(REDIS_URL, `${platformIdFor(stateDir)}:`);
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('records each version\'s image digest and the checksum of its source', async () => {
    const versions = ((await (await api(`/v1/functions/${name}/versions`)).json()) as { versions: Array<{ version: number; digest: string; sourceSha256: string; origin: { kind: string } }> }).versions;
    expect(versions[0]).toMatchObject({ version: 1, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), sourceSha256: createHash('sha256').update(code('v1')).digest('hex'), origin: { kind: 'upload' } });
  });

  it('rolls a new version out under 50+ req/s with no failed request, and rolls back by hand onto warm instances', async () => {
    const load = steadyLoad(`${platform.url}/fn/${name}`, 15); // ~66 requests a second
    await until('v1 answering', () => (load.bodies.includes('v1') ? true : undefined), 30_000);
    await deploy('v2');
    await until('v2 answering', () => (load.bodies.at(-1) === 'v2' ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    const rolloutCount = load.bodies.length + load.failures.length;
    const coldBefore = await coldStarts();

    const back = await api(`/v1/functions/${name}/rollback`, { method: 'POST', body: '{}' });
    expect(back.status, await back.clone().text()).toBe(200);
    expect(await back.json()).toMatchObject({ version: 1, previous: [{ version: 2, weight: 100 }] });
    await until('v1 answering again', () => (load.bodies.at(-1) === 'v1' ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    await load.stop();
    const total = load.bodies.length + load.failures.length;
    console.log(`[rollout] requests during rollout: ${rolloutCount}, during rollback: ${total - rolloutCount}, failed: ${load.failures.length}, cold starts during rollback: ${(await coldStarts()) - coldBefore}`);
    expect(load.failures).toEqual([]);
    // The answers switched once each way: v1…v1 v2…v2 v1…v1.
    const switches = load.bodies.filter((b, i) => i > 0 && b !== load.bodies[i - 1]!).length;
    expect(switches).toBeLessThanOrEqual(6); // at most a few interleaved answers around each flip (requests in flight)
    expect(await coldStarts()).toBe(coldBefore);
  }, 240_000);

  it('splits a canary at 20 % and rolls back a canary that answers 500', async () => {
    const put = await api(`/v1/functions/${name}/aliases/prod`, { method: 'PUT', body: JSON.stringify({ versions: [{ version: 1, weight: 80 }, { version: 2, weight: 20 }] }) });
    expect(put.status, await put.clone().text()).toBe(200);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const call = (p: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get(`${platform.url}${p}`, { agent }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      }).on('error', reject);
    });
    await until('the alias routed', async () => ((await call(`/fn/${name}@prod`)).status === 200 ? true : undefined), 10_000);
    const answers: string[] = [];
    for (let batch = 0; batch < 50; batch++) answers.push(...(await Promise.all(Array.from({ length: 20 }, () => call(`/fn/${name}@prod`)))).map((a) => a.body));
    const canary = answers.filter((b) => b === 'v2').length;
    console.log(`[canary] 1000 calls at 20 %: ${canary} to the canary`);
    expect(answers.filter((b) => b !== 'v1' && b !== 'v2')).toEqual([]);
    expect(canary).toBeGreaterThanOrEqual(150);
    expect(canary).toBeLessThanOrEqual(250);

    await deploy('broken', 500); // v3: answers 500 (it also becomes latest: only the alias is called here)
    const bad = await api(`/v1/functions/${name}/aliases/prod`, { method: 'PUT', body: JSON.stringify({ versions: [{ version: 2, weight: 80 }, { version: 3, weight: 20 }] }) });
    expect(bad.status, await bad.clone().text()).toBe(200);
    let sent = 0;
    const rolledBack = await until('prod rolled back by itself', async () => {
      await Promise.all(Array.from({ length: 20 }, () => call(`/fn/${name}@prod`)));
      sent += 20;
      const aliases = (await (await api(`/v1/functions/${name}/aliases`)).json()) as { aliases: Record<string, Array<{ version: number }>> };
      return aliases.aliases.prod!.length === 1 ? aliases.aliases.prod : undefined;
    }, 60_000, 0);
    console.log(`[canary] the 500 canary was rolled back after about ${sent} calls to the alias`);
    expect(rolledBack).toEqual([{ version: 2, weight: 100 }]);
    const fn = (await (await api(`/v1/functions/${name}`)).json()) as { rollout: { alias: string; cause: string; reason: string } };
    expect(fn.rollout).toMatchObject({ alias: 'prod', cause: 'auto-rollback' });
    expect(fn.rollout.reason).toMatch(/canary v3 rolled back automatically/);
    agent.destroy();
  }, 300_000);
});
