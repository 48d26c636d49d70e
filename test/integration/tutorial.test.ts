// docs/tutorial.md, run as a newcomer runs it: every bash block, in order, as ONE script (an order bug —
// a step using what an earlier one deleted, a bucket made twice — fails here, which section-by-section runs
// could not catch), in the directory standing for the clone, against a platform started as `npm start`
// starts it (Docker, Redis, the registry; no key given, so one is generated into .stratus/api-key). Only
// what this machine needs is changed: the address (the test's free port instead of 8080, function hosts
// NAME.fn.localhost included), the receiver's and git daemon's ports, and the CLI run from source
// (cli/main.ts under tsx) rather than the dist/ build `npm start` leaves. Every "# {…}" output it promises
// must appear, and so must the lines that show the CLI's deploy, canary, rollback and failed check.
// Then the cleanup the tutorial promises is checked: no function left, the scratch directory gone and the
// clone as it was, no process it started still running and its ports closed, nothing new in this checkout.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { bashBlocks, groupAlive, killGroup, promisedOutputs, runBash } from '../support/readme-blocks.js';
import { missing, REDIS_URL } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';

const TUTORIAL = path.join(PROJECT_ROOT, 'docs/tutorial.md');
const ADDRESS = 'http://127.0.0.1:8080';
const RECEIVER_PORT = '8099';
const GIT_PORT = '9418';
const CLI = 'node "$STRATUS_HOME/dist/cli/main.js"';
// Functions the tutorial makes; the test removes any it left (after a failure) so the next run starts clean.
const FUNCTIONS = ['hello', 'hello-py', 'shop', 'greet', 'ticker', 'guarded', 'thumbnailer', 'git-hello'];

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Top-level paths `git status` shows as new in this checkout: where a tutorial run in the clone would write. */
function untrackedTopLevel(): Set<string> {
  const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=normal'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  return new Set(status.split('\n').filter((l) => l.startsWith('?? ') && !l.slice(3).replace(/\/$/, '').includes('/')).map((l) => l.slice(3)));
}

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('docs/tutorial.md, run in order as one script (Docker, Redis, registry, git daemon)', () => {
  let dir: string;
  let clone: string;
  let scratchParent: string;
  let platform: RunningPlatform;
  let pgid: number | undefined;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-tutorial-'));
    // What the tutorial calls the clone: where `npm start` runs, with its .stratus/ and node_modules/.
    clone = path.join(dir, 'clone');
    scratchParent = path.join(dir, 'tmp');
    await fs.mkdir(clone);
    await fs.mkdir(scratchParent);
    await fs.symlink(path.join(PROJECT_ROOT, 'node_modules'), path.join(clone, 'node_modules'));
    platform = await startPlatform(
      loadConfig({ STRATUS_PORT: '0', STRATUS_STATE_DIR: path.join(clone, '.stratus'), STRATUS_STORE: 'redis', STRATUS_BACKEND: 'docker', NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS }),
      silentLogger,
    );
  });

  afterAll(async () => {
    if (pgid !== undefined) killGroup(pgid);
    if (platform) {
      for (const name of FUNCTIONS) await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
      await platform.stop();
    }
    if (dir) {
      await removeRedisKeys(REDIS_URL, `${platformIdFor(path.join(clone, '.stratus'))}:`);
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('runs in order, prints what it promises and leaves nothing behind', async () => {
    const markdown = await fs.readFile(TUTORIAL, 'utf8');
    const blocks = bashBlocks(markdown);
    const tutorial = blocks.join('\n');
    for (const s of [ADDRESS, '.fn.localhost:8080', `127.0.0.1:${RECEIVER_PORT}`, `--port=${GIT_PORT}`, `127.0.0.1:${GIT_PORT}/`, CLI]) expect(tutorial, `the tutorial no longer has ${s}`).toContain(s);

    const port = new URL(platform.url).port;
    const [receiverPort, gitPort] = [await freePort(), await freePort()];
    const tsx = pathToFileURL(path.join(PROJECT_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
    const script = tutorial
      .replaceAll(ADDRESS, platform.url)
      .replaceAll('.fn.localhost:8080', `.fn.localhost:${port}`)
      .replaceAll(`127.0.0.1:${RECEIVER_PORT}`, `127.0.0.1:${receiverPort}`)
      .replaceAll(`listen(${RECEIVER_PORT},`, `listen(${receiverPort},`)
      .replaceAll(`--port=${GIT_PORT}`, `--port=${gitPort}`)
      .replaceAll(`127.0.0.1:${GIT_PORT}/`, `127.0.0.1:${gitPort}/`)
      // tsx keeps a cache under TMPDIR: its own, so the scratch parent shows only what the tutorial made.
      .replaceAll(CLI, `TMPDIR="${path.join(dir, 'tsx-tmp')}" node --import "${tsx}" "${path.join(PROJECT_ROOT, 'cli/main.ts')}"`);
    expect(script).not.toContain(':8080');

    // The shell a newcomer has: no STRATUS_* of this process, no saved CLI login, mktemp under a dir we watch.
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STRATUS_')));
    Object.assign(env, { XDG_CONFIG_HOME: path.join(dir, 'config'), TMPDIR: scratchParent, NO_COLOR: '1' });
    const checkoutBefore = untrackedTopLevel();

    const run = await runBash(script, { cwd: clone, timeoutMs: 1_500_000, env });
    pgid = run.pgid;
    const { code, out } = run;
    expect(code, out).toBe(0);

    const promised = promisedOutputs([script]); // with this machine's ports, as the script printed them
    expect(promised.length).toBeGreaterThanOrEqual(25);
    for (const p of promised) expect(out, `the tutorial promises ${p}`).toMatch(p);
    for (const line of [
      `url:         ${platform.url} (from STRATUS_URL)`,
      `key:         …${platform.apiKey.slice(-4)} (from STRATUS_API_KEY)`,
      'left out 1 path matching .stratusignore',
      '✓ shop v1 is live',
      `http://shop.fn.localhost:${port}/`,
      '✓ shop v2 is live',
      '✓ shop@beta → v1 80%, v2 20%',
      '✓ shop serves v1 (was v2)',
      "eslint  index.js:2:19  no-undef  'totl' is not defined.",
      'exit code 1',
      '\ntrue\n', // the repeated Idempotency-Key: a duplicate
      '\nnot really a cat\n',
      '\nme\n',
      'access-control-allow-origin: https://app.example.test',
      '✓ deleted shop',
    ]) {
      expect(out, `the tutorial shows ${JSON.stringify(line)}`).toContain(line);
    }
    expect(out).toMatch(/^HTTP\/1\.1 204/m); // the preflight, answered by the gateway
    expect(out).not.toMatch(/"status":\s*5\d\d/);

    // Cleaned up: nothing of it in the platform, the scratch dir gone, the clone as it was, no server left.
    const left = (await (await fetch(`${platform.url}/v1/functions`, { headers: { authorization: `Bearer ${platform.apiKey}` } })).json()) as { functions: { name: string }[] };
    expect(left.functions.map((f) => f.name)).toEqual([]);
    const keys = (await (await fetch(`${platform.url}/v1/storage/keys`, { headers: { authorization: `Bearer ${platform.apiKey}` } })).json()) as { keys: unknown[] };
    expect(keys.keys).toEqual([]);
    expect(await fs.readdir(scratchParent)).toEqual([]);
    expect((await fs.readdir(clone)).sort()).toEqual(['.stratus', 'node_modules']);
    expect(groupAlive(run.pgid), 'a process the tutorial started is still running').toBe(false);
    expect(await listening(receiverPort), 'the notification receiver still listens').toBe(false);
    expect(await listening(gitPort), 'git daemon still listens').toBe(false);
    const checkoutAfter = untrackedTopLevel();
    expect([...checkoutAfter].filter((p) => !checkoutBefore.has(p)), 'new files in the checkout').toEqual([]);
  }, 1_600_000);
});
