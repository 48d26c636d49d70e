// The check stage on real services (Docker, Redis, registry, the checks images): a function whose own
// tests fail is not deployed and the last good version keeps answering its URL; a lint error is in the
// report with file and line; a Python function's failing pytest; checks turned off; a test that tries the
// network finds none. The network probe never sends a packet: it connects only after seeing no interface
// but loopback (then the connect fails in the kernel), and fails by itself otherwise.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../core/check-report.js';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { makeTar } from '../fixtures/archives/make-archives.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing } from '../support/services.js';

interface Report {
  buildId: string;
  status: string;
  failedStage: string | null;
  checks: CheckResult[];
}

const NODE_PACKAGE = JSON.stringify({ type: 'module', scripts: { test: 'node --test' } });
const nodeHandler = (version: number) => `export default async function handler() {\n  return { version: ${version} };\n}\n`;
const nodeTest = (expected: number) =>
  [
    "import { test } from 'node:test';",
    "import assert from 'node:assert/strict';",
    "import handler from './index.js';",
    '',
    "test('answers its version', async () => {",
    `  assert.deepEqual(await handler(), { version: ${expected} });`,
    '});',
    '',
  ].join('\n');

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('build checks (Docker, Redis, registry, checks images)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  const suffix = Date.now().toString(36);
  const names = { tested: `chk-test-${suffix}`, lint: `chk-lint-${suffix}`, py: `chk-py-${suffix}`, off: `chk-off-${suffix}`, net: `chk-net-${suffix}`, dev: `chk-dev-${suffix}` };
  const api = (p: string) => fetch(`${platform.url}${p}`, { headers: { authorization: `Bearer ${platform.apiKey}` } });

  /** Uploads `files` as a .tar.gz and waits for the build; answers the build, its report and its log. */
  async function build(config: Record<string, unknown>, files: Record<string, string>) {
    const archive = await makeTar(Object.entries(files).map(([name, data]) => ({ name, data })), true);
    const res = await deployFunction(platform, config, { file: 'code.tar.gz', content: archive });
    expect(res.status, await res.clone().text()).toBe(202);
    const { buildId } = (await res.json()) as { buildId: string };
    const b = await waitForBuild(platform, buildId);
    const record = (await (await api(`/v1/builds/${buildId}`)).json()) as { timings: Record<string, number>; failedStage?: string | null };
    const report = (await (await api(`/v1/builds/${buildId}/report`)).json()) as Report;
    const log = await (await api(`/v1/builds/${buildId}/logs`)).text();
    return { ...b, record, report, log };
  }
  const check = (report: Report, tool: string) => report.checks.find((c) => c.tool === tool)!;

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-checks-'));
    platform = await startPlatform(e2eConfig(stateDir, { STRATUS_STEM_POOL_SIZE: '0' }), silentLogger);
  }, 120_000);

  afterAll(async () => {
    if (platform) {
      for (const name of Object.values(names)) await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
      await platform.stop();
    }
    if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('a function whose npm test fails is not deployed: the last good version keeps answering its URL', async () => {
    const good = await build({ name: names.tested, runtime: 'node' }, { 'index.js': nodeHandler(1), 'index.test.js': nodeTest(1), 'package.json': NODE_PACKAGE });
    expect(good.status, good.error ?? '').toBe('succeeded');
    expect(good.record.timings.check).toEqual(expect.any(Number));
    expect(good.report.checks.map((c) => [c.tool, c.status])).toEqual([['eslint', 'passed'], ['npm test', 'passed']]);
    expect(good.log).toMatch(/^\[check\] --- check$/m);
    expect(good.log).toMatch(/^\[check\] npm test: passed/m);
    expect(await (await fetch(`${platform.url}/fn/${names.tested}`)).json()).toEqual({ version: 1 });

    // v2 answers 2 but its own test still expects 1.
    const bad = await build({ name: names.tested, runtime: 'node' }, { 'index.js': nodeHandler(2), 'index.test.js': nodeTest(1), 'package.json': NODE_PACKAGE });
    expect(bad.status).toBe('failed');
    expect(bad.record.failedStage).toBe('check');
    expect(bad.report.failedStage).toBe('check');
    expect(bad.error).toMatch(/^checks failed: npm test failed \(exit code 1\): index\.test\.js:5:\d+ /);
    const npmTest = check(bad.report, 'npm test');
    expect(npmTest).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(npmTest.problems).toEqual([expect.objectContaining({ file: 'index.test.js', line: 5, rule: 'answers its version', severity: 'error' })]);
    expect(npmTest.output).toMatch(/not ok 1 - answers its version/);
    expect(bad.log).toMatch(/^\[check\] not ok 1 - answers its version$/m);
    // No image was built for it, and the function still serves v1.
    expect(bad.log).not.toMatch(/^\[image\]/m);
    expect(await (await fetch(`${platform.url}/fn/${names.tested}`)).json()).toEqual({ version: 1 });
    const fn = (await (await api(`/v1/functions/${names.tested}`)).json()) as { currentVersion: number };
    expect(fn.currentVersion).toBe(1);
  }, 240_000);

  it('tests run with the devDependencies (their runner, their helpers), which the image then leaves out', async () => {
    const pkg = JSON.stringify({ type: 'module', scripts: { test: 'node --test' }, devDependencies: { 'is-number': '7.0.0' } });
    const test = "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport isNumber from 'is-number';\n\ntest('a dev helper is there', () => assert.equal(isNumber(5), true));\n";
    const b = await build({ name: names.dev, runtime: 'node' }, { 'index.js': nodeHandler(1), 'index.test.js': test, 'package.json': pkg });
    expect(b.status, b.error ?? '').toBe('succeeded');
    expect(b.log).toMatch(/^\[install\] with devDependencies, for the checks/m);
    expect(b.log).toMatch(/^\[check\] \$ npm prune --omit=dev/m);
    expect(check(b.report, 'npm test')).toMatchObject({ status: 'passed', exitCode: 0 });
    const artifact = path.join(stateDir, 'artifacts', names.dev, 'v1');
    expect(await fs.readdir(artifact)).toContain('index.js');
    await expect(fs.access(path.join(artifact, 'node_modules', 'is-number'))).rejects.toThrow();
  }, 240_000);

  it('a lint error (an undefined variable) is in the report with file and line, and fails the build', async () => {
    const code = 'export default async function handler(event) {\n  const total = 1;\n  return { total: totl + 1, event };\n}\n';
    const b = await build({ name: names.lint, runtime: 'node' }, { 'index.js': code });
    expect(b.status).toBe('failed');
    expect(b.error).toMatch(/^checks failed: eslint found 1 error: index\.js:3:19 'totl' is not defined\. \(no-undef\)/);
    const eslint = check(b.report, 'eslint');
    expect(eslint.status).toBe('failed');
    // Errors first; the unused variable is only a warning (it alone would not fail the build).
    expect(eslint.problems).toEqual([
      { file: 'index.js', line: 3, column: 19, rule: 'no-undef', severity: 'error', message: "'totl' is not defined." },
      { file: 'index.js', line: 2, column: 9, rule: 'no-unused-vars', severity: 'warning', message: "'total' is assigned a value but never used." },
    ]);
    expect(check(b.report, 'npm test')).toMatchObject({ status: 'skipped', reason: 'package.json has no test script' });
    expect(b.log).toMatch(/^\[check\] {3}error index\.js:3:19 'totl' is not defined\. \(no-undef\)$/m);
  }, 240_000);

  it('a Python function whose pytest fails is not deployed; pyflakes passes it', async () => {
    const b = await build(
      { name: names.py, runtime: 'python' },
      {
        'main.py': 'def add(a, b):\n    return a + b\n\n\ndef handler(event, context):\n    return {"sum": add(1, 1)}\n',
        'test_main.py': 'from main import add\n\n\ndef test_add():\n    assert add(1, 1) == 3\n',
      },
    );
    expect(b.status).toBe('failed');
    expect(b.record.failedStage).toBe('check');
    expect(check(b.report, 'pyflakes')).toMatchObject({ status: 'passed', problems: [] });
    const pytest = check(b.report, 'pytest');
    expect(pytest).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(pytest.problems).toEqual([{ file: 'test_main.py', line: 5, rule: 'test_add', severity: 'error', message: 'assert 2 == 3' }]);
    expect(b.error).toMatch(/pytest failed \(exit code 1\): test_main\.py:5 assert 2 == 3 \(test_add\)/);
  }, 240_000);

  it('checks: { lint: false, test: false } skips both, and the build goes on', async () => {
    const code = 'export default async (event) => (event.query.broken ? broken_name : { ok: true });\n';
    const b = await build(
      { name: names.off, runtime: 'node', checks: { lint: false, test: false } },
      { 'index.js': code, 'index.test.js': nodeTest(99), 'package.json': NODE_PACKAGE },
    );
    expect(b.status, b.error ?? '').toBe('succeeded');
    expect(b.report.checks).toEqual([
      expect.objectContaining({ tool: 'eslint', status: 'skipped', reason: 'turned off by checks.lint: false' }),
      expect.objectContaining({ tool: 'npm test', status: 'skipped', reason: 'turned off by checks.test: false' }),
    ]);
    expect(await (await fetch(`${platform.url}/fn/${names.off}`)).json()).toEqual({ ok: true });
  }, 240_000);

  it('a test that tries the network finds none: the connection fails inside the sandbox', async () => {
    const probe = [
      "import { test } from 'node:test';",
      "import net from 'node:net';",
      "import os from 'node:os';",
      '',
      "test('fetches from the network', async () => {",
      '  const interfaces = Object.keys(os.networkInterfaces());',
      "  if (interfaces.some((n) => n !== 'lo')) throw new Error(`NETWORK PRESENT: ${interfaces.join(', ')}`);",
      // TEST-NET-1 (RFC 5737): with loopback alone the kernel refuses the connect; nothing is sent.
      "  await new Promise((resolve, reject) => net.connect({ host: '192.0.2.1', port: 80 }).on('connect', resolve).on('error', reject));",
      '});',
      '',
    ].join('\n');
    const b = await build({ name: names.net, runtime: 'node' }, { 'index.js': nodeHandler(1), 'net.test.js': probe, 'package.json': NODE_PACKAGE });
    expect(b.status).toBe('failed');
    const npmTest = check(b.report, 'npm test');
    expect(npmTest.status).toBe('failed');
    expect(npmTest.problems).toEqual([expect.objectContaining({ file: 'net.test.js', rule: 'fetches from the network' })]);
    expect(npmTest.problems[0]!.message).toMatch(/ENETUNREACH/);
    expect(npmTest.output).not.toMatch(/NETWORK PRESENT/);
  }, 240_000);
});
