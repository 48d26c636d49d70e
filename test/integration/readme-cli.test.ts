// The README's "The `stratus` CLI" walkthrough, run as written: its bash block in a fresh directory whose
// .stratus/ is the state dir of a platform started as `npm start` starts it (the key generated into
// .stratus/api-key, which the CLI finds there). Two things change: `npx stratus` is the CLI from this
// checkout (a `stratus` on PATH running cli/main.ts), and STRATUS_URL names the test's free port instead of
// npm start's 8080. Every "# {…}" output it promises must appear, and so must the lines that show the
// deploy, the canary, the rollback and the failed check.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../gateway/platform.js';
import { bashBlocks, promisedOutputs, runBash } from '../support/readme-blocks.js';
import { missing, REDIS_URL } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('README "The stratus CLI" walkthrough (Docker, Redis, registry)', () => {
  let dir: string;
  let platform: RunningPlatform;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-readme-cli-'));
    platform = await startPlatform(
      loadConfig({ STRATUS_PORT: '0', STRATUS_S3_PORT: 'off', STRATUS_STATE_DIR: path.join(dir, '.stratus'), STRATUS_STORE: 'redis', STRATUS_BACKEND: 'docker', NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS }),
      silentLogger,
    );
    const bin = path.join(dir, 'bin');
    await fs.mkdir(bin);
    const tsx = pathToFileURL(path.join(PROJECT_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
    await fs.writeFile(path.join(bin, 'stratus'), `#!/bin/sh\nexec "${process.execPath}" --import "${tsx}" "${path.join(PROJECT_ROOT, 'cli/main.ts')}" "$@"\n`, { mode: 0o755 });
  });

  afterAll(async () => {
    if (platform) {
      await fetch(`${platform.url}/v1/functions/shop`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
      await platform.stop();
    }
    if (dir) {
      await removeRedisKeys(REDIS_URL, `${platformIdFor(path.join(dir, '.stratus'))}:`);
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('runs as written and prints what it promises', async () => {
    const readme = await fs.readFile(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    const blocks = bashBlocks(readme, 'The `stratus` CLI');
    expect(blocks).toHaveLength(1);
    const block = blocks[0]!;
    expect(block).toContain('npx stratus deploy shop');
    const script = [
      // Only what the test's own surroundings need: this checkout's CLI, the test's port, no one's saved login.
      `export PATH="${path.join(dir, 'bin')}:$PATH" STRATUS_URL=${platform.url} XDG_CONFIG_HOME="${path.join(dir, '.config')}"`,
      'unset STRATUS_API_KEY',
      block.replaceAll('npx stratus ', 'stratus '),
    ].join('\n');
    const { code, out } = await runBash(script, dir, 480_000);
    expect(code, out).toBe(0);
    const promised = promisedOutputs([block]);
    expect(promised.length).toBeGreaterThanOrEqual(3);
    for (const p of promised) expect(out, `README promises ${p}`).toMatch(p);
    for (const line of [
      `key:         …${platform.apiKey.slice(-4)} (from ${path.join(dir, '.stratus', 'api-key')})`,
      'left out 1 path matching .stratusignore',
      '✓ shop v1 is live',
      '✓ shop@beta → v1 80%, v2 20%',
      '✓ shop serves v1 (was v2)',
      "eslint  broken.js:1:38  no-undef  'totl' is not defined.",
      'exit code 1',
      '✓ deleted shop',
    ]) {
      expect(out, `README shows ${line}`).toContain(line);
    }
  }, 600_000);
});
