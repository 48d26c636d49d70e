// The README's "Five minutes with curl", "Versions, aliases and rollback" and "Triggers", run as written: their bash blocks, in order, in a fresh directory
// whose .stratus/ is the state dir of a platform started the way `npm start` starts it (generated key
// file included). Only the address changes (the test listens on a free port, not 8080, on 127.0.0.1 and on
// the function hosts under fn.localhost). Every
// "# {…}" line under a command is the output the README promises: each must appear in what ran.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { startPlatform, type RunningPlatform } from '../../gateway/platform.js';
import { bashBlocks, promisedOutputs, runBash } from '../support/readme-blocks.js';
import { missing } from '../support/services.js';

const README_ADDRESS = 'http://127.0.0.1:8080';

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('README walkthrough (Docker, Redis, registry)', () => {
  let dir: string;
  let platform: RunningPlatform;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-readme-'));
    // As `npm start` with the services up: no key given, so one is generated into .stratus/api-key.
    platform = await startPlatform(
      loadConfig({ STRATUS_PORT: '0', STRATUS_STATE_DIR: path.join(dir, '.stratus'), STRATUS_STORE: 'redis', STRATUS_BACKEND: 'docker', NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS }),
      silentLogger,
    );
  });

  afterAll(async () => {
    if (platform) {
      for (const name of ['hello', 'hello-py', 'ticker', 'greet']) await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
      await platform.stop();
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('runs as written and prints what it promises', async () => {
    const readme = await fs.readFile(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    const blocks = [...bashBlocks(readme, 'Five minutes with curl'), ...bashBlocks(readme, 'Versions, aliases and rollback'), ...bashBlocks(readme, 'Triggers')];
    expect(blocks.join('\n')).toContain(README_ADDRESS);
    // Function hosts (NAME.fn.localhost:8080) carry the port too.
    const script = blocks.join('\n').replaceAll(README_ADDRESS, platform.url).replaceAll('.fn.localhost:8080', `.fn.localhost:${new URL(platform.url).port}`);
    const { code, out } = await runBash(script, dir, 300_000);
    expect(code, out).toBe(0);
    const promised = promisedOutputs(blocks);
    expect(promised.length).toBeGreaterThanOrEqual(4);
    for (const p of promised) expect(out, `README promises ${p}`).toMatch(p);
    expect(out).not.toMatch(/"status":\s*5\d\d/);
  }, 320_000);
});
