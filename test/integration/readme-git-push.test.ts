// The README's "Git push builds" example, run as written: its bash block in a fresh directory against a
// platform on real services — a bare repository, Debian's `git daemon`, a real `git push`, a hook signed
// with openssl the way GitHub signs it — and every "# {…}" output it promises must appear. Only the git
// daemon's port changes (a free one instead of 9418) and KEY/STRATUS are set as the README's walkthrough
// sets them.

import fs from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { startPlatform, type RunningPlatform } from '../../gateway/platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { bashBlocks, promisedOutputs, runBash } from '../support/readme-blocks.js';
import { missing } from '../support/services.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('README "Git push builds" example (Docker, Redis, registry, git daemon)', () => {
  let dir: string;
  let platform: RunningPlatform;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-readme-git-'));
    platform = await startPlatform(e2eConfig(path.join(dir, '.stratus')), silentLogger);
  });

  afterAll(async () => {
    if (platform) {
      await fetch(`${platform.url}/v1/functions/shop-hello`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
      await platform.stop();
    }
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('runs as written and prints what it promises', async () => {
    const readme = await fs.readFile(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    const blocks = bashBlocks(readme, 'Git push builds');
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toContain(':9418');
    const block = blocks[0]!.replaceAll('9418', String(await freePort()));
    const script = [
      `export KEY=${platform.apiKey} STRATUS=${platform.url}`,
      // The example leaves git daemon running in the background: it goes when the script ends, however it ends.
      "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
      block,
    ].join('\n');
    const { code, out } = await runBash(script, dir, 240_000);
    expect(code, out).toBe(0);
    const promised = promisedOutputs([block]);
    expect(promised.length).toBe(3);
    for (const p of promised) expect(out, `README promises ${p}`).toMatch(p);
  }, 260_000);
});
