// Dependency installs run the uploader's code (npm lifecycle scripts): a postinstall is the attacker
// here. Whole builds on real Docker (install container) and on the host (no Docker) must show it no
// Stratus secret, run it unprivileged, refuse the links it plants, and cap what it prints.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Builder } from '../../builder/builder.js';
import { createBuilder } from '../../builder/index.js';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import { makeZip } from '../fixtures/archives/make-archives.js';
import { finishedBuild, submitFiles } from '../support/build-upload.js';
import { DOCKER_SOCKET, REGISTRY, RUNTIME_IMAGES, missing } from '../support/services.js';

const ADMIN_KEY = `admin-${crypto.randomBytes(12).toString('hex')}`;
const REDIS_PASSWORD = `pw-${crypto.randomBytes(12).toString('hex')}`;
const PLATFORM_ENV = {
  STRATUS_API_KEY: ADMIN_KEY,
  STRATUS_REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0`,
};

/** Prints what an attacker's postinstall would look for: the environment, who it runs as, its capabilities. */
const PROBE = `
const fs = require('fs');
const { execSync } = require('child_process');
console.log('PROBE-ENV ' + JSON.stringify(process.env));
fs.writeFileSync('made-by-install.txt', 'x');
console.log('PROBE-UID ' + execSync('id -u').toString().trim());
const status = fs.readFileSync('/proc/self/status', 'utf8').split('\\n');
console.log('PROBE-' + status.find((l) => l.startsWith('CapEff')).replace(/\\s+/g, ' '));
const read = (...files) => { for (const f of files) { try { return fs.readFileSync(f, 'utf8').trim(); } catch {} } return null; };
let rootWrite = 'written';
try { fs.writeFileSync('/probe-root', 'x'); } catch (e) { rootWrite = e.code; }
console.log('PROBE-LIMITS ' + JSON.stringify({
  noNewPrivs: status.find((l) => l.startsWith('NoNewPrivs')).split(/\\s+/)[1],
  pids: read('/sys/fs/cgroup/pids.max', '/sys/fs/cgroup/pids/pids.max'),
  cpu: read('/sys/fs/cgroup/cpu.max') ?? (read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') + ' ' + read('/sys/fs/cgroup/cpu/cpu.cfs_period_us')),
  memory: read('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'),
  rootWrite,
}));
`;

function probePackage(postinstall: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'index.js': 'module.exports = async () => ({ ok: true });',
    'package.json': JSON.stringify({ name: 'probe', version: '1.0.0', scripts: { postinstall } }),
    'probe.js': PROBE,
    ...extra,
  };
}

const LINK_OUT = (target: string) =>
  `node -e "require('fs').mkdirSync('node_modules/evil', { recursive: true }); require('fs').symlinkSync('${target}', 'node_modules/evil/link')"`;
/** About 2.4 MB of output, past the 1 MiB the build log keeps of an install. */
const CHATTY = `node -e "for (let i = 0; i < 40000; i++) console.log('chatter ' + 'x'.repeat(52) + ' ' + i)"`;

function suite(label: string, withDocker: boolean) {
  const store = new MemoryStore();
  const prefix = `stratus-sbx-${crypto.randomBytes(3).toString('hex')}`;
  const names = new Set<string>();
  let stateDir: string;
  let builder: Builder;
  const saved: Record<string, string | undefined> = {};

  beforeAll(() => {
    // The platform's own process holds the secrets, as the gateway does when started with them.
    for (const [k, v] of Object.entries(PLATFORM_ENV)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-sandbox-it-'));
    const cfg = loadConfig({
      ...PLATFORM_ENV,
      STRATUS_STATE_DIR: stateDir,
      STRATUS_REGISTRY: REGISTRY,
      STRATUS_IMAGE_PREFIX: prefix,
      STRATUS_RUNTIME_IMAGE_NODE: RUNTIME_IMAGES.node,
      STRATUS_RUNTIME_IMAGE_PYTHON: RUNTIME_IMAGES.python,
      STRATUS_BUILD_CA_FILE: process.env.NODE_EXTRA_CA_CERTS,
      PATH: process.env.PATH,
    });
    const docker = withDocker ? new Docker({ socketPath: DOCKER_SOCKET }) : null;
    builder = createBuilder({ store, docker, build: cfg.build, images: cfg.images, stateDir, logger: silentLogger });
  });

  afterAll(async () => {
    for (const n of names) await builder?.purge(n);
    await builder?.close();
    await store.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  async function build(name: string, files: Record<string, string>) {
    names.add(name);
    return finishedBuild(store, await submitFiles({ store, builder, stateDir }, name, 'node', files));
  }

  it(`${label}: a postinstall sees no Stratus setting or secret, runs as a non-root uid with no capabilities`, async () => {
    const { build: b, log } = await build('probe', probePackage('node probe.js'));
    expect(b.error, log).toBeNull();
    const envLine = log.split('\n').find((l) => l.includes('PROBE-ENV '));
    expect(envLine, log).toBeDefined();
    const env = JSON.parse(envLine!.slice(envLine!.indexOf('PROBE-ENV ') + 'PROBE-ENV '.length)) as Record<string, string>;
    expect(Object.keys(env).filter((k) => k.toUpperCase().startsWith('STRATUS'))).toEqual([]);
    expect(log).not.toContain(ADMIN_KEY);
    expect(log).not.toContain(REDIS_PASSWORD);
    // npm's own variables are there; nothing of the platform's beyond HOME, PATH, the CA and proxy/registry settings.
    expect(env.HOME).toBeDefined();
    const uid = Number(/PROBE-UID (\d+)/.exec(log)?.[1]);
    expect(uid).toBeGreaterThan(0);
    expect(/PROBE-CapEff: ([0-9a-f]+)/.exec(log)?.[1]).toMatch(/^0+$/);
    // What the install wrote is the platform's again: the install's uid can change nothing of the artifact.
    const artifact = (await store.getVersion('probe', 1))!.artifactDir!;
    expect(fs.statSync(path.join(artifact, 'made-by-install.txt')).uid).toBe(process.getuid!());
    if (withDocker) {
      // The container's own view of its limits (cgroup v1 or v2 files).
      const limits = JSON.parse(/PROBE-LIMITS (.*)$/m.exec(log)![1]!) as Record<string, string>;
      expect(limits).toEqual({ noNewPrivs: '1', pids: '512', cpu: '100000 100000', memory: String(1024 * 1024 * 1024), rootWrite: 'EROFS' });
    }
  });

  it(`${label}: pip installs a dependency (a local wheel: no network) as the unprivileged uid`, async () => {
    const wheel = makeZip([
      { name: 'stratusprobe/__init__.py', data: 'VALUE = 42\n' },
      { name: 'stratusprobe-1.0.dist-info/METADATA', data: 'Metadata-Version: 2.1\nName: stratusprobe\nVersion: 1.0\n' },
      { name: 'stratusprobe-1.0.dist-info/WHEEL', data: 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n' },
      { name: 'stratusprobe-1.0.dist-info/RECORD', data: 'stratusprobe/__init__.py,,\nstratusprobe-1.0.dist-info/METADATA,,\nstratusprobe-1.0.dist-info/WHEEL,,\nstratusprobe-1.0.dist-info/RECORD,,\n' },
    ]);
    names.add('pyprobe');
    const id = await submitFiles({ store, builder, stateDir }, 'pyprobe', 'python', {
      'main.py': 'import stratusprobe\ndef handler(event, context):\n    return stratusprobe.VALUE\n',
      'requirements.txt': './stratusprobe-1.0-py3-none-any.whl\n',
      'stratusprobe-1.0-py3-none-any.whl': wheel,
    });
    const { build: b, log } = await finishedBuild(store, id);
    expect(b.error, log).toBeNull();
    const artifact = (await store.getVersion('pyprobe', 1))!.artifactDir!;
    expect(fs.readFileSync(path.join(artifact, '.python_packages/stratusprobe/__init__.py'), 'utf8')).toBe('VALUE = 42\n');
    expect(fs.statSync(path.join(artifact, '.python_packages/stratusprobe')).uid).toBe(process.getuid!());
  });

  it(`${label}: a postinstall that links node_modules to /etc/passwd fails the build, saying so`, async () => {
    const { build: b, log } = await build('linkpasswd', probePackage(LINK_OUT('/etc/passwd')));
    expect(b.status).toBe('failed');
    expect(b.error).toMatch(/node_modules\/evil\/link.*outside/);
    expect(log).toContain(b.error!);
  });

  it(`${label}: a postinstall that links node_modules to / fails the build`, async () => {
    const { build: b } = await build('linkroot', probePackage(LINK_OUT('/')));
    expect(b.status).toBe('failed');
    expect(b.error).toMatch(/node_modules\/evil\/link.*outside/);
  });

  it(`${label}: install output past 1 MiB is left out of the build log with a note; the install goes on`, async () => {
    const { build: b, log } = await build('chatty', probePackage(CHATTY));
    expect(b.error, log.slice(-2000)).toBeNull();
    const install = log.split('\n').filter((l) => l.startsWith('[install] chatter'));
    expect(install.length).toBeGreaterThan(1000);
    // What the install printed, without the log's "[install] " prefixes: the cap, not 2.4 MB.
    const kept = install.reduce((n, l) => n + l.length - '[install] '.length + 1, 0);
    expect(kept).toBeLessThanOrEqual(1024 * 1024);
    expect(kept).toBeGreaterThan(1000 * 1024);
    expect(log).toMatch(/^\[install\] .*install output past 1 MiB was left out/m);
    expect(log).not.toContain(`chatter ${'x'.repeat(52)} 39999`);
  });
}

describe('install sandbox on the host (no Docker)', () => {
  suite('host', false);
});

describe.skipIf(await missing('docker', 'registry', 'runtime-images'))('install sandbox in a container', () => {
  suite('container', true);
});
