// The README's "Five minutes with curl" and "Triggers", run as written: their bash blocks, in order, in a fresh directory
// whose .stratus/ is the state dir of a platform started the way `npm start` starts it (generated key
// file included). Only the address changes (the test listens on a free port, not 8080). Every
// "# {…}" line under a command is the output the README promises: each must appear in what ran.

import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { startPlatform, type RunningPlatform } from '../../gateway/platform.js';
import { missing } from '../support/services.js';

const README_ADDRESS = 'http://127.0.0.1:8080';

/** The bash blocks of one README section, in order. */
function bashBlocks(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const end = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** "# {…}" comment lines as patterns: "…" stands for anything. */
function promisedOutputs(blocks: string[]): RegExp[] {
  return blocks
    .flatMap((b) => b.split('\n'))
    .filter((line) => /^#\s*\{/.test(line.trim()))
    .map((line) => {
      const text = line.trim().replace(/^#\s*/, '');
      const pattern = text.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*?');
      return new RegExp(pattern);
    });
}

function runBash(script: string, cwd: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

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
      for (const name of ['hello', 'hello-py', 'ticker']) await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
      await platform.stop();
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('runs as written and prints what it promises', async () => {
    const readme = await fs.readFile(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    const blocks = [...bashBlocks(readme, 'Five minutes with curl'), ...bashBlocks(readme, 'Triggers')];
    expect(blocks.join('\n')).toContain(README_ADDRESS);
    const script = blocks.join('\n').replaceAll(README_ADDRESS, platform.url);
    const { code, out } = await runBash(script, dir, 300_000);
    expect(code, out).toBe(0);
    const promised = promisedOutputs(blocks);
    expect(promised.length).toBeGreaterThanOrEqual(4);
    for (const p of promised) expect(out, `README promises ${p}`).toMatch(p);
    expect(out).not.toMatch(/"status":\s*5\d\d/);
  }, 320_000);
});
