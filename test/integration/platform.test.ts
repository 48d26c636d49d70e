// The whole foundation on real services: upload over HTTP → build → image in the registry → function URL,
// through startPlatform (the same composition root `npm start` uses), then a restart.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { missing, REGISTRY } from '../support/services.js';
import { until } from '../support/until.js';
import { deployFunction, waitForBuild, tarGzOf } from '../support/platform-client.js';
import { makeTar, makeZip } from '../fixtures/archives/make-archives.js';

const FIXTURES = path.resolve('test/fixtures/functions');

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('platform end to end (Docker, Redis, registry)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  const suffix = Date.now().toString(36);
  const names = { node: `e2e-node-${suffix}`, python: `e2e-py-${suffix}`, crash: `e2e-crash-${suffix}`, sleep: `e2e-sleep-${suffix}`, oom: `e2e-oom-${suffix}` };

  // Small archive limits, so that each refusal is cheap to provoke.
  const config = () =>
    e2eConfig(stateDir, { STRATUS_MAX_UPLOAD_MB: '4', STRATUS_MAX_UNPACKED_MB: '2', STRATUS_MAX_ARCHIVE_ENTRIES: '50', STRATUS_MAX_COMPRESSION_RATIO: '50' });

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-e2e-'));
    platform = await startPlatform(config(), silentLogger);
  });

  afterAll(async () => {
    if (platform) {
      for (const name of Object.values(names)) {
        await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
      }
      await platform.stop();
    }
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('refuses a missing or wrong key with 401 problem+json', async () => {
    const none = await fetch(`${platform.url}/v1/functions`);
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const wrong = await fetch(`${platform.url}/v1/functions`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
  });

  it('refuses an invalid config with 400 naming the field', async () => {
    const res = await deployFunction(platform, { name: 'bad', runtime: 'node', memoryMb: 5 }, { file: 'index.js', content: 'export default () => 1' });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.field).toBe('config.memoryMb');
    expect(body.detail).toMatch(/memoryMb/);
  });

  // Each unsafe upload is refused while the request is open, with its own 4xx, and leaves no file
  // outside the state dir, no function and no build behind.
  const badUploads: Array<[string, number, () => Promise<Buffer> | Buffer, string, RegExp]> = [
    ['path traversal', 422, () => makeZip([{ name: 'index.js', data: 'export default () => 1' }, { name: '../../evil-traversal.js', data: 'x' }]), 'a.zip', /path traversal/],
    ['an absolute path', 422, () => makeTar([{ name: '/tmp/evil-absolute.js', data: 'x' }], true), 'a.tar.gz', /absolute path/],
    ['a symlink pointing outside', 422, () => makeTar([{ name: 'index.js', type: 'symlink', linkname: '../../../../etc/passwd' }], true), 'a.tar.gz', /points outside/],
    ['a hard link pointing outside', 422, () => makeTar([{ name: 'h', type: 'link', linkname: '../../etc/passwd' }], true), 'a.tar.gz', /points outside/],
    ['too many entries', 422, () => makeZip(Array.from({ length: 60 }, (_, i) => ({ name: `f${i}.js`, data: 'x' }))), 'a.zip', /more than 50 entries/],
    ['too large once unpacked', 422, () => makeTar([{ name: 'index.js', data: crypto.randomBytes(3 * 1024 * 1024) }], true), 'a.tgz', /unpacks to more than 2 MB/],
    ['a compression ratio past the bound', 422, () => makeZip([{ name: 'index.js', data: Buffer.alloc(1_900_000) }]), 'bomb.zip', /expands more than 50 times/],
    ['not an archive', 422, () => Buffer.from('just some notes'), 'notes.txt', /neither an archive/],
    ['an upload past the size limit', 413, () => Buffer.alloc(5 * 1024 * 1024, 1), 'big.zip', /4 MB|limit/],
  ];
  it.each(badUploads)('refuses %s with %i and writes nothing outside', async (_what, status, make, file, message) => {
    const name = `e2e-bad-${suffix}`;
    const res = await deployFunction(platform, { name, runtime: 'node' }, { file, content: await make() });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const body = await res.json();
    expect(body.detail).toMatch(message);
    const fn = await fetch(`${platform.url}/v1/functions/${name}`, { headers: { authorization: `Bearer ${platform.apiKey}` } });
    expect(fn.status).toBe(404);
    for (const dir of [stateDir, path.dirname(stateDir), '/tmp']) {
      const entries = await fs.readdir(dir);
      expect(entries.filter((e) => e.startsWith('evil'))).toEqual([]);
    }
    expect(await fs.readdir(path.join(stateDir, 'uploads')).catch(() => [])).toEqual([]);
  });

  it('refuses an upload whose handler file is missing with 400 naming config.handler', async () => {
    const res = await deployFunction(platform, { name: `e2e-nohandler-${suffix}`, runtime: 'node', handler: 'app.main' }, { file: 'code.tar.gz', content: await makeTar([{ name: 'index.js', data: 'export default () => 1' }], true) });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body).toMatchObject({ code: 'INVALID_CONFIG', field: 'config.handler' });
    expect(body.detail).toMatch(/app\.js/);
  });

  it('deploys a Node function with a dependency: build, registry, function URL', async () => {
    const tgz = await tarGzOf(path.join(FIXTURES, 'node-dep'));
    const res = await deployFunction(platform, { name: names.node, runtime: 'node' }, { file: 'code.tar.gz', content: tgz });
    expect(res.status).toBe(202);
    const { buildId, version } = await res.json();
    const build = await waitForBuild(platform, buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
    expect(build.image).toBe(`${REGISTRY}/${config().images.prefix}/${names.node}:v${version}`);

    // The catalog is paged (100 repositories by default): ask from just before this repository's name.
    const repo = `${config().images.prefix}/${names.node}`;
    const catalog = await (await fetch(`http://${REGISTRY}/v2/_catalog?n=10&last=${encodeURIComponent(repo.slice(0, -1))}`)).json();
    expect(catalog.repositories).toContain(repo);
    const tags = await (await fetch(`http://${REGISTRY}/v2/${config().images.prefix}/${names.node}/tags/list`)).json();
    expect(tags.tags).toContain(`v${version}`);

    const call = await fetch(`${platform.url}/fn/${names.node}/some/path?value=7`, { method: 'POST', body: 'hi', headers: { 'content-type': 'text/plain' } });
    expect(call.status).toBe(200);
    expect(call.headers.get('x-stratus-request-id')).toBeTruthy();
    expect(await call.json()).toEqual({ value: '7', isNumber: true, dependency: 'is-number' });
    const notNumber = await fetch(`${platform.url}/fn/${names.node}?value=abc`);
    expect(await notNumber.json()).toMatchObject({ value: 'abc', isNumber: false });
  });

  it('runs a user\'s own image deployed with JSON (no build), pulled from the registry', async () => {
    const name = `e2e-image-${suffix}`;
    const image = `${REGISTRY}/${config().images.prefix}/${names.node}:v1`;
    const res = await fetch(`${platform.url}/v1/functions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, image }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name, version: 1, buildId: null });
    try {
      const call = await fetch(`${platform.url}/fn/${name}?value=3`);
      expect(call.status).toBe(200);
      expect(await call.json()).toMatchObject({ value: '3', isNumber: true });
      const { instances } = await (await fetch(`${platform.url}/v1/functions/${name}/instances`, { headers: { authorization: `Bearer ${platform.apiKey}` } })).json();
      expect(instances.map((i: { startKind: string }) => i.startKind)).toEqual(['container']);
    } finally {
      await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
    }
  });

  it('deploys a Python function', async () => {
    const src = await fs.readFile(path.join(FIXTURES, 'python-hello', 'main.py'));
    const res = await deployFunction(platform, { name: names.python, runtime: 'python' }, { file: 'main.py', content: src });
    expect(res.status).toBe(202);
    const build = await waitForBuild(platform, (await res.json()).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
    const call = await fetch(`${platform.url}/fn/${names.python}?name=py`);
    expect(call.status).toBe(200);
    expect(await call.json()).toMatchObject({ message: expect.stringContaining('python') });
  });

  it('answers 502 when the function crashes and 504 past its timeout', async () => {
    const crash = await deployFunction(platform, { name: names.crash, runtime: 'node' }, { file: 'index.js', content: 'export default async () => { process.exit(3) }' });
    const sleep = await deployFunction(platform, { name: names.sleep, runtime: 'node', timeoutMs: 500 }, { file: 'index.js', content: 'export default async () => { await new Promise(r => setTimeout(r, 5000)); return "late" }' });
    for (const res of [crash, sleep]) expect((await waitForBuild(platform, (await res.json()).buildId)).status).toBe('succeeded');

    const crashed = await fetch(`${platform.url}/fn/${names.crash}`);
    expect(crashed.status).toBe(502);
    expect((await crashed.json()).code).toBe('FUNCTION_CRASHED');
    const slow = await fetch(`${platform.url}/fn/${names.sleep}`);
    expect(slow.status).toBe(504);
    expect((await slow.json()).code).toBe('FUNCTION_TIMEOUT');
  });

  it('answers 502 saying the function ran out of memory, and the next call is served by a new instance', async () => {
    const code = `export default async (event) => {
      if (event.query.grow) { const hold = []; for (;;) hold.push(Buffer.alloc(1 << 20, 1)); }
      return { ok: true, pid: process.pid };
    }`;
    const res = await deployFunction(platform, { name: names.oom, runtime: 'node', memoryMb: 64, concurrency: 1 }, { file: 'index.js', content: code });
    expect((await waitForBuild(platform, (await res.json()).buildId)).status).toBe('succeeded');
    const oom = await fetch(`${platform.url}/fn/${names.oom}?grow=1`);
    expect(oom.status).toBe(502);
    const problem = await oom.json();
    expect(problem.code).toBe('FUNCTION_OUT_OF_MEMORY');
    expect(problem.detail).toMatch(/ran out of memory \(limit 64 MB\)/);
    const next = await fetch(`${platform.url}/fn/${names.oom}`);
    expect(next.status).toBe(200);
    expect(await next.json()).toMatchObject({ ok: true });
  });

  it('answers 404 for an unknown function', async () => {
    const res = await fetch(`${platform.url}/fn/no-such-function-${suffix}`);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-stratus-request-id')).toBeTruthy();
  });

  it('loses no request while a new version takes over under load', async () => {
    const statuses: number[] = [];
    let stop = false;
    const callers = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 2000 && !stop; i++) statuses.push((await fetch(`${platform.url}/fn/${names.node}?value=1`)).status);
    });
    await new Promise((r) => setTimeout(r, 300));
    const patched = await fetch(`${platform.url}/v1/functions/${names.node}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ env: { ROLLOUT: '2' } }),
    });
    expect(patched.status).toBe(200);
    const { version } = await patched.json();
    // Keep calling until the new version is current and has served 20 calls more, so the old one is
    // drained meanwhile: counted in calls, not in time, which the machine's load decides.
    const current = async () => (await (await fetch(`${platform.url}/v1/functions/${names.node}`, { headers: { authorization: `Bearer ${platform.apiKey}` } })).json()).currentVersion;
    await until('the new version to be current', async () => ((await current()) === version ? true : undefined), 120_000, 100);
    const switchedAt = statuses.length;
    await until('20 calls after the switch', () => (statuses.length >= switchedAt + 20 ? true : undefined), 120_000);
    stop = true;
    await Promise.all(callers);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const instances = await (await fetch(`${platform.url}/v1/functions/${names.node}/instances`, { headers: { authorization: `Bearer ${platform.apiKey}` } })).json();
    const views = instances.instances as Array<{ version: number; inFlight: number }>;
    expect(views.filter((i) => i.version === version).length).toBeGreaterThan(0);
    // The old version's instances are kept warm for a rollback (STRATUS_ROLLBACK_WARM_MS), serving nothing.
    expect(views.filter((i) => i.version !== version).every((i) => i.version < version && i.inFlight === 0)).toBe(true);
  });

  it('keeps serving deployed functions after a restart of the platform', async () => {
    await platform.stop();
    platform = await startPlatform(config(), silentLogger);
    const call = await fetch(`${platform.url}/fn/${names.node}/again?value=12`);
    expect(call.status).toBe(200);
    expect(await call.json()).toMatchObject({ value: '12', isNumber: true });
    const py = await fetch(`${platform.url}/fn/${names.python}`);
    expect(py.status).toBe(200);
  });
});
