// A newcomer's first mistakes on the real platform (Docker, Redis, registry, the runtime images): a syntax
// error fails its build with the runtime's error and line while the previous version keeps answering; a
// version that passes the load check but exits at start (an env var PATCHed in) is never rolled out — the
// previous version keeps answering — and, called by its own URL (/fn/NAME@vN), is retried with backoff —
// counted as container starts Docker itself reports — and shows as `failing` on the function.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { DOCKER_SOCKET, missing } from '../support/services.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Containers of one platform that Docker started between two times (epoch ms). */
async function containerStarts(docker: Docker, platformId: string, sinceMs: number, untilMs: number): Promise<number> {
  const stream = (await docker.getEvents({
    since: Math.floor(sinceMs / 1000),
    until: Math.ceil(untilMs / 1000),
    filters: { type: ['container'], event: ['start'], label: [`dev.stratus.platform=${platformId}`] },
  })) as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text.split('\n').filter((l) => l.trim() !== '').length;
}

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('a broken function on the platform (Docker)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  const suffix = Date.now().toString(36);
  const names = { syntax: `lc-syntax-${suffix}`, crash: `lc-crash-${suffix}` };
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, ...init.headers } });

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-crashloop-'));
    platform = await startPlatform(e2eConfig(stateDir), silentLogger);
  });
  afterAll(async () => {
    if (platform) {
      for (const name of Object.values(names)) await api(`/v1/functions/${name}`, { method: 'DELETE' });
      await platform.stop();
    }
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('a syntax error fails the build with the error and its line; the previous version keeps answering', async () => {
    const good = await deployFunction(platform, { name: names.syntax, runtime: 'node' }, { file: 'index.js', content: 'export default async () => ({ version: 1 });\n' });
    expect((await waitForBuild(platform, (await good.json()).buildId)).status).toBe('succeeded');
    expect(await (await fetch(`${platform.url}/fn/${names.syntax}`)).json()).toEqual({ version: 1 });

    const bad = await deployFunction(platform, { name: names.syntax, runtime: 'node' }, { file: 'index.js', content: 'export default async function () {\n  return { version: 2;\n}\n' });
    const { buildId } = await bad.json();
    const build = await waitForBuild(platform, buildId);
    expect(build.status).toBe('failed');
    expect(build.error).toMatch(/SyntaxError: .*\(at index\.js:2\)/);
    const log = await (await api(`/v1/builds/${buildId}/logs`)).text();
    expect(log).toMatch(/\[load\] .*cannot load handler "index\.handler".*SyntaxError.*\(at index\.js:2\)/);

    const call = await fetch(`${platform.url}/fn/${names.syntax}`);
    expect(call.status).toBe(200);
    expect(await call.json()).toEqual({ version: 1 });
    const fn = await (await api(`/v1/functions/${names.syntax}`)).json();
    expect(fn).toMatchObject({ currentVersion: 1, latestVersion: 2, status: 'ready' });
  });

  it('a version that exits at start: its rollout is abandoned, 5 calls of it in 30 s make fewer than 10 starts, each answer points at the logs, and it shows failing', async () => {
    const code = 'if (process.env.CRASH_AT_START === "1") {\n  console.error("CRASH_AT_START is set: giving up");\n  process.exit(1);\n}\nexport default async () => ({ ok: true });\n';
    const res = await deployFunction(platform, { name: names.crash, runtime: 'node' }, { file: 'index.js', content: code });
    expect((await waitForBuild(platform, (await res.json()).buildId)).status).toBe('succeeded'); // it loads without the variable
    const patched = await api(`/v1/functions/${names.crash}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ env: { CRASH_AT_START: '1' } }) });
    expect(patched.status).toBe(200);
    // The new version got no ready instance: latest stays on version 1, which keeps answering.
    expect((await patched.json()).rollout).toMatch(/^abandoned: version 2 got no ready instance/);
    expect(await (await fetch(`${platform.url}/fn/${names.crash}`)).json()).toEqual({ ok: true });

    const docker = new Docker({ socketPath: DOCKER_SOCKET });
    const since = Date.now();
    const answers: Array<{ status: number; problem: { code: string; detail: string; logs: string } }> = [];
    const callOnce = async () => {
      const r = await fetch(`${platform.url}/fn/${names.crash}@v2`);
      answers.push({ status: r.status, problem: await r.json() });
    };
    for (let i = 0; i < 4; i++) {
      await callOnce();
      if (i < 3) await sleep(since + (i + 1) * 6000 - Date.now());
    }
    await callOnce(); // right after a failed start: within its backoff
    await sleep(since + 30_000 - Date.now());
    const starts = await containerStarts(docker, platformIdFor(stateDir), since, Date.now());

    expect(answers).toHaveLength(5);
    for (const a of answers) {
      expect([502, 503]).toContain(a.status);
      expect(['INSTANCE_START_FAILED', 'FUNCTION_UNAVAILABLE']).toContain(a.problem.code);
      expect(a.problem.logs).toBe(`/v1/functions/${names.crash}/logs`);
      expect(a.problem.detail).toContain(`see GET /v1/functions/${names.crash}/logs`);
    }
    // The rollout's own try was the first failed start, so the first call may already be inside the backoff;
    // a later one, past it, starts the version again and gets the failure itself.
    expect(answers.map((a) => a.problem.code)).toContain('INSTANCE_START_FAILED');
    expect(answers[4]!).toMatchObject({ status: 503, problem: { code: 'FUNCTION_UNAVAILABLE' } });
    expect(starts).toBeGreaterThan(0);
    expect(starts).toBeLessThan(10);

    const fn = await (await api(`/v1/functions/${names.crash}`)).json();
    expect(fn).toMatchObject({ status: 'ready', currentVersion: 1, rollout: { state: 'abandoned', to: [{ version: 2, weight: 100 }] } });
    expect(fn.failing).toMatchObject({ version: 2, logs: `/v1/functions/${names.crash}/logs`, lastError: expect.stringMatching(/exited with code 1 before it was ready/) });
    expect(fn.failing.failures).toBeGreaterThanOrEqual(2);
    expect(fn.failing.lastOutput).toMatch(/CRASH_AT_START is set: giving up/);
    expect(Number.isNaN(Date.parse(fn.failing.nextTryAt))).toBe(false);
  }, 90_000);
});
