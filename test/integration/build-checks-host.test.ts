// The process backend's checks (no Docker): the host's tools — ESLint from Stratus's own install, npm —
// on a copy of the tree in a sandbox, as the function uid when the platform is root. What the checks
// run sees and changes stays in the copy; the lint finds a bug with its file and line.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckStage } from '../../builder/checks.js';
import { HostCheckSandbox } from '../../builder/checks-sandbox.js';
import { parseFunctionConfig } from '../../core/function-config.js';

const PROBE_TEST = [
  "import { test } from 'node:test';",
  "import assert from 'node:assert/strict';",
  "import fs from 'node:fs';",
  '',
  "test('sees itself as the function uid, writes only into its copy', () => {",
  "  fs.writeFileSync('written-by-the-test.txt', 'x');",
  '  assert.equal(process.getuid(), EXPECTED_UID);',
  '});',
  '',
].join('\n');

describe('checks on the host (process backend)', () => {
  let dir: string;
  const uid = process.getuid?.() === 0 ? 10001 : process.getuid?.();
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-host-checks-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lints with the default rules and runs npm test as the function uid, leaving the tree as it was', async () => {
    fs.writeFileSync(path.join(dir, 'index.js'), 'export default async function handler() {\n  return { n: countr };\n}\n');
    fs.writeFileSync(path.join(dir, 'index.test.js'), PROBE_TEST.replace('EXPECTED_UID', String(uid)));
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', scripts: { test: 'node --test' } }));
    const before = fs.readdirSync(dir).sort();
    const lines: string[] = [];
    const report = await new CheckStage(new HostCheckSandbox()).run(
      { runtime: 'node', config: parseFunctionConfig({ name: 'host', runtime: 'node' }), codeDir: dir, buildId: 'host-b1' },
      { line: (l) => lines.push(l), chunk: () => {} },
      new AbortController().signal,
    );
    const [eslint, npmTest] = report.checks;
    expect(eslint).toMatchObject({ tool: 'eslint', status: 'failed', problems: [{ file: 'index.js', line: 2, column: 15, rule: 'no-undef', severity: 'error', message: "'countr' is not defined." }] });
    expect(npmTest, npmTest!.output).toMatchObject({ tool: 'npm test', status: 'passed', exitCode: 0 });
    expect(fs.readdirSync(dir).sort()).toEqual(before);
    expect(lines[0]).toMatch(/^checks run on this host \(process backend\).*NOT cut off from the network/);
    // Nothing of the sandbox is left behind.
    expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('stratus-install-host-b1-'))).toEqual([]);
  }, 120_000);
});
