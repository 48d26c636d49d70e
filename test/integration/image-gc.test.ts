// Old versions' images and the registry's garbage collection (issue 10, item 3) on real Docker and a real
// registry — a private one this suite starts with scripts/services.sh on a port of its own, because
// `npm run gc` restarts the registry it collects (read-only during the collection) and the shared one
// serves other suites. Seven versions with STRATUS_IMAGES_KEPT=3 and prod → v1: v1 and the newest three stay
// in the registry, the others' tags go (and their local images); POST /v1/admin/gc says what stayed and why
// and deletes v1 once no alias uses it; scripts/registry-gc.sh then frees blobs and the kept images stay whole.

import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { isCI, missing } from '../support/services.js';
import { until } from '../support/until.js';

const run = promisify(execFile);
const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

const hasRegistryBinary = (() => {
  try {
    execFileSync('docker-registry', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    if (isCI) throw new Error('docker-registry is missing: CI installs it with scripts/services.sh');
    return false;
  }
})();

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe.skipIf(!hasRegistryBinary || (await missing('docker', 'runtime-images')))('image retention and registry garbage collection (Docker, a registry of its own)', () => {
  let servicesDir: string;
  let stateDir: string;
  let registry: string;
  let platform: RunningPlatform;
  const name = `gc-${Date.now().toString(36)}`;
  const env = () => ({ ...process.env, STRATUS_SERVICES_DIR: servicesDir, REGISTRY_ADDR: registry });
  const api = (p: string, init: RequestInit = {}) =>
    fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' } });
  let platformRepo = '';
  const repo = () => `${platformRepo}/${name}`;
  const tags = async () => ((await (await fetch(`http://${registry}/v2/${repo()}/tags/list`)).json()) as { tags: string[] | null }).tags?.sort() ?? [];
  const blobFiles = () => (execFileSync('find', [path.join(servicesDir, 'registry'), '-path', '*/blobs/*', '-name', 'data']).toString().trim().split('\n').filter(Boolean).length);
  const localImage = (tag: string) => run('docker', ['image', 'inspect', `${registry}/${repo()}:${tag}`]).then(() => true, () => false);

  beforeAll(async () => {
    servicesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-gc-services-'));
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-gc-'));
    registry = `127.0.0.1:${await freePort()}`;
    await run('bash', [path.join(PROJECT_ROOT, 'scripts/services.sh'), 'registry'], { env: env() });
    const config = e2eConfig(stateDir, { STRATUS_STORE: 'memory', STRATUS_REGISTRY: registry, STRATUS_IMAGES_KEPT: '3', STRATUS_STEM_POOL_SIZE: '0', STRATUS_S3_PORT: 'off' });
    platformRepo = config.images.prefix;
    platform = await startPlatform(config, silentLogger);
  }, 60_000);

  afterAll(async () => {
    await platform?.stop();
    // The registry this suite started (services.sh, then registry-gc.sh's restart), by its recorded pid.
    const pidFile = path.join(servicesDir, 'registry.pid');
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0;
    if (pid > 0) process.kill(pid);
    const left = (await run('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', `${registry}/${repo()}`]).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
    for (const image of left) await run('docker', ['image', 'rm', '-f', image]).catch(() => {});
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(servicesDir, { recursive: true, force: true });
  });

  it('keeps the newest three images and every aliased one, deletes the rest, and npm run gc frees their blobs', async () => {
    for (let v = 1; v <= 7; v++) {
      const code = `export default async () => ({ version: ${v}, padding: ${JSON.stringify('x'.repeat(1000 * v))}.length });\n`;
      const res = await deployFunction(platform, { name, runtime: 'node', checks: { lint: false, test: false } }, { file: 'index.mjs', content: code });
      expect(res.status).toBe(202);
      const build = await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId);
      expect(build.status, build.error ?? '').toBe('succeeded');
      if (v === 1) expect((await api(`/v1/functions/${name}/aliases/prod`, { method: 'PUT', body: JSON.stringify({ version: 1 }) })).status).toBe(200);
    }
    // Collected after each build in the background: v2–v4 go, v1 stays for prod.
    await until('old tags deleted', async () => ((await tags()).join() === 'v1,v5,v6,v7' ? true : undefined), 60_000, 250);
    for (const tag of ['v2', 'v3', 'v4']) expect(await localImage(tag), tag).toBe(false);
    for (const tag of ['v1', 'v5', 'v6', 'v7']) expect(await localImage(tag), tag).toBe(true);
    const versions = ((await (await api(`/v1/functions/${name}/versions`)).json()) as { versions: Array<{ version: number; imageDeletedAt?: string }> }).versions;
    expect(versions.filter((v) => v.imageDeletedAt).map((v) => v.version)).toEqual([2, 3, 4]);
    expect(await (await fetch(`${platform.url}/fn/${name}@prod`)).json()).toMatchObject({ version: 1 });

    const first = await api('/v1/admin/gc', { method: 'POST' });
    expect(first.status).toBe(200);
    const report = (await first.json()) as { deleted: number; functions: Array<{ function: string; kept: Array<{ tag: string; reason: string }>; deleted: string[] }> };
    expect(report.deleted).toBe(0);
    expect(report.functions.find((f) => f.function === name)?.kept).toEqual([
      { tag: 'v1', reason: 'alias' }, { tag: 'v5', reason: 'newest' }, { tag: 'v6', reason: 'newest' }, { tag: 'v7', reason: 'alias' },
    ]);

    // Once no alias points at v1 it is one old image more.
    expect((await api(`/v1/functions/${name}/aliases/prod`, { method: 'PUT', body: JSON.stringify({ version: 6 }) })).status).toBe(200);
    const second = (await (await api('/v1/admin/gc', { method: 'POST' })).json()) as { functions: Array<{ function: string; deleted: string[] }> };
    expect(second.functions.find((f) => f.function === name)?.deleted).toEqual(['v1']);
    expect(await tags()).toEqual(['v5', 'v6', 'v7']);

    // The registry's garbage collection: read-only meanwhile, back read-write after, fewer blobs, kept images whole.
    const before = blobFiles();
    const gc = await run('bash', [path.join(PROJECT_ROOT, 'scripts/registry-gc.sh')], { env: env() });
    expect(gc.stderr).toMatch(/restarting it read-only[\s\S]*garbage collection done[\s\S]*serving again/);
    expect(blobFiles()).toBeLessThan(before);
    expect(await tags()).toEqual(['v5', 'v6', 'v7']);
    for (const tag of ['v5', 'v6', 'v7']) {
      const manifest = (await (await fetch(`http://${registry}/v2/${repo()}/manifests/${tag}`, { headers: { accept: MANIFEST } })).json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
      for (const blob of [manifest.config, ...manifest.layers]) {
        expect((await fetch(`http://${registry}/v2/${repo()}/blobs/${blob.digest}`, { method: 'HEAD' })).status, `${tag} ${blob.digest}`).toBe(200);
      }
    }
    // Pushes work again: a new build after the collection succeeds and the oldest kept image goes.
    const res = await deployFunction(platform, { name, runtime: 'node', checks: { lint: false, test: false } }, { file: 'index.mjs', content: 'export default async () => ({ version: 8 });\n' });
    expect((await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId)).status).toBe('succeeded');
    await until('v5 deleted after v8', async () => ((await tags()).join() === 'v6,v7,v8' ? true : undefined), 60_000, 250);
  }, 600_000);
});
