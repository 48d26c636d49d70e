// The `stratus` CLI end to end on real Docker, Redis and the registry: the CLI runs as a child process
// (as a person runs it, from the function's directory) against a platform started by the test.
// `stratus deploy` packs a directory with a stratus.yaml and a .stratusignore, uploads it, follows the
// build and exits 0 with the URL, and the function itself reports that the ignored files never reached
// it — nor the secret-looking ones (.env, .npmrc, key.pem, config/.env), which the CLI names, while the
// one a `!` line sends (.env.production) and .env.example did; a failing build exits 1 with the build's
// error; a function's log lines and a build's output carrying escape sequences are printed escaped; invoke (sync and async) answers; `logs -f` shows
// the line of an invocation made while it runs; `ls --json` is the API's JSON; versions, a canary alias and
// rollback work through the releases API; an unreachable Stratus
// and a wrong key each get their exit code and a message saying what to do.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { missing, REDIS_URL } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = pathToFileURL(path.join(REPO, 'node_modules/tsx/dist/loader.mjs')).href;
const MAIN = path.join(REPO, 'cli/main.ts');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI in a child process, from `cwd`, with only the environment given (and a HOME of its own). */
function startCli(args: string[], cwd: string, env: Record<string, string>): { child: ChildProcess; out: () => string; done: Promise<Run> } {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => (stdout += c));
  child.stderr!.on('data', (c) => (stderr += c));
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, out: () => stdout, done };
}

async function runCli(args: string[], cwd: string, env: Record<string, string>, timeoutMs = 300_000): Promise<Run> {
  const { child, done } = startCli(args, cwd, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), content);
  }
}

/** What a hostile function writes to take over the terminal of whoever reads its output. */
const HOSTILE = '\\x1b]8;;http://evil.invalid/\\x07click me\\x1b]8;;\\x07 \\x1b[2J\\x1b]0;owned\\x07 \\x9b31m';
// eslint-disable-next-line no-control-regex -- any control character but newline and tab
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

const HANDLER = `import fs from 'node:fs';
const here = (p) => fs.existsSync(new URL(p, import.meta.url));
export default async function (event) {
  if (event.specversion) return { async: true, data: event.data };
  if (event.query.hostile) console.log('hostile-line ' + '${HOSTILE}');
  console.log('cli-marker ' + (event.query.marker ?? '-'));
  return {
    greeting: process.env.GREETING,
    secretUploaded: here('./secret.txt'),
    notesUploaded: here('./docs/notes.md'),
    nodeModulesUploaded: here('./node_modules/left-behind'),
    keptUploaded: here('./docs/keep.txt'),
    secrets: Object.fromEntries(['.env', '.npmrc', 'key.pem', 'config/.env', '.env.production', '.env.example'].map((f) => [f, here('./' + f)])),
  };
}
`;

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('stratus CLI (Docker, Redis, registry)', () => {
  const suffix = Date.now().toString(36);
  const names = { ok: `cli-${suffix}`, bad: `cli-bad-${suffix}`, hostile: `cli-hostile-${suffix}` };
  let root: string;
  let stateDir: string;
  let platform: RunningPlatform;
  let env: Record<string, string>;
  const dirs = { ok: '', bad: '', hostile: '' };

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-cli-'));
    stateDir = path.join(root, 'state');
    await fs.mkdir(path.join(root, 'home'));
    platform = await startPlatform(e2eConfig(stateDir, { STRATUS_S3_PORT: 'off' }), silentLogger);
    env = { HOME: path.join(root, 'home'), STRATUS_URL: platform.url, STRATUS_API_KEY: platform.apiKey };
    dirs.ok = path.join(root, 'hello');
    await writeTree(dirs.ok, {
      'index.js': HANDLER,
      'package.json': '{ "type": "module" }\n',
      'stratus.yaml': `name: ${names.ok}\nruntime: node\nmemoryMb: 128\nenv:\n  GREETING: hello from yaml\ntriggers:\n  - type: cron\n    schedule: "0 0 1 1 *"\n`,
      '.stratusignore': '# not for the function\nsecret.txt\ndocs/*.md\n# sent on purpose\n!.env.production\n',
      '.env': 'API_TOKEN=sk_live_do_not_upload\n',
      '.env.production': 'FEATURE=on\n',
      '.env.example': 'API_TOKEN=\n',
      '.npmrc': '//registry.example.test/:_authToken=npm_do_not_upload\n',
      'key.pem': '-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n',
      'config/.env': 'NESTED_TOKEN=do_not_upload\n',
      'secret.txt': 'sk_do_not_upload',
      'docs/notes.md': 'notes',
      'docs/keep.txt': 'kept',
      'node_modules/left-behind/index.js': 'module.exports = 1;',
    });
    dirs.bad = path.join(root, 'broken');
    await writeTree(dirs.bad, { 'index.js': 'export default async function () {\n  return { ok: true };;\n}}\n' });
    // Fails its load check with escape sequences in what it writes and in its error.
    dirs.hostile = path.join(root, 'hostile');
    await writeTree(dirs.hostile, {
      'index.js': `console.error('hostile-build ${HOSTILE}');\nthrow new Error('boom ${HOSTILE}');\nexport default async function () { return 1; }\n`,
    });
  }, 180_000);

  afterAll(async () => {
    if (platform) {
      for (const name of Object.values(names)) await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
      await platform.stop();
    }
    if (stateDir) await removeRedisKeys(REDIS_URL, `${platformIdFor(stateDir)}:`);
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  it('deploys a directory with stratus.yaml and .stratusignore end to end, showing the stages, and exits 0 with the URL', async () => {
    const run = await runCli(['deploy', '--memory', '192'], dirs.ok, env);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toContain('config from stratus.yaml');
    expect(run.stdout).toMatch(/left out node_modules\/ \(Stratus installs dependencies from package.json\), 4 paths that look like secrets, 2 paths matching \.stratusignore/);
    expect(run.stderr).toContain('left out 4 paths that look like secrets: .env, .npmrc, config/.env, key.pem — a line `!.env` in .stratusignore sends one on purpose');
    const stages = [...run.stdout.matchAll(/^→ (\w+)$/gm)].map((m) => m[1]);
    expect(stages).toEqual(expect.arrayContaining(['extract', 'install', 'image', 'push', 'load']));
    expect(run.stdout).toMatch(new RegExp(`✓ ${names.ok} v1 is live`));
    // The one sent on purpose is noted in the build log, by the builder, which refuses none.
    const buildId = /\(build ([0-9a-f-]{36})\)/.exec(run.stdout)?.[1];
    const log = await runCli(['build', buildId!], dirs.ok, env);
    expect(log.stdout).toContain('[extract] note: the upload holds a path that looks like a secret, now in the image: .env.production — ');

    // The function's URL as Stratus gives it (its own origin, or /fn/NAME: item 1 of issue 15 decides).
    const { url } = JSON.parse((await runCli(['get', names.ok, '--json'], dirs.ok, env)).stdout) as { url: string };
    expect(run.stdout).toContain(`\n  ${url}\n`);

    // The function looks for the files itself: the ignored ones and node_modules never reached it.
    const call = await runCli(['invoke', names.ok, '--path', '/?marker=first'], dirs.ok, env);
    expect(call.code, call.stderr).toBe(0);
    expect(JSON.parse(call.stdout)).toEqual({
      greeting: 'hello from yaml', secretUploaded: false, notesUploaded: false, nodeModulesUploaded: false, keptUploaded: true,
      secrets: { '.env': false, '.npmrc': false, 'key.pem': false, 'config/.env': false, '.env.production': true, '.env.example': true },
    });

    // The flag won over the file; the file's triggers were declared.
    const fn = JSON.parse((await runCli(['get', names.ok, '--json'], dirs.ok, env)).stdout) as { config: { memoryMb: number } };
    expect(fn.config.memoryMb).toBe(192);
    const triggers = JSON.parse((await runCli(['triggers', names.ok, '--json'], dirs.ok, env)).stdout) as { triggers: { type: string; schedule: string }[] };
    expect(triggers.triggers).toMatchObject([{ type: 'cron', schedule: '0 0 1 1 *' }]);
  }, 400_000);

  it('exits 1 with the build error when the build fails, and the stages up to the failure', async () => {
    const run = await runCli(['deploy', '--name', names.bad], dirs.bad, env);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('→ load');
    expect(run.stderr).toMatch(new RegExp(`error: build of ${names.bad} v1 failed: .*SyntaxError.*index\\.js:3`));
    expect(run.stderr).toMatch(/full log: `stratus build [0-9a-f-]{36}`/);
  }, 400_000);

  it("prints a function's log lines with their escape sequences shown, not acted on", async () => {
    const res = await fetch(`${platform.url}/fn/${names.ok}?hostile=1`);
    expect(res.status).toBe(200);
    let run: Run | undefined;
    for (let i = 0; i < 40; i++) {
      run = await runCli(['logs', names.ok, '--limit', '1000'], dirs.ok, env);
      if (run.stdout.includes('hostile-line')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(run!.code, run!.stderr).toBe(0);
    const line = run!.stdout.split('\n').find((l) => l.includes('hostile-line'));
    expect(line).toContain('hostile-line \\x1b]8;;http://evil.invalid/\\x07click me\\x1b]8;;\\x07 \\x1b[2J\\x1b]0;owned\\x07 \\x9b31m');
    expect(UNSAFE.test(run!.stdout), JSON.stringify(run!.stdout)).toBe(false);
    // --json gives the line as the function wrote it, as JSON escapes.
    const json = await runCli(['logs', names.ok, '--json', '--limit', '1000'], dirs.ok, env);
    expect(UNSAFE.test(json.stdout)).toBe(false);
    const messages = (JSON.parse(json.stdout) as { logs: { message: string }[] }).logs.map((l) => l.message);
    expect(messages).toContain('hostile-line \x1b]8;;http://evil.invalid/\x07click me\x1b]8;;\x07 \x1b[2J\x1b]0;owned\x07 \x9b31m');
  }, 120_000);

  it("prints a failed build's output and error with their escape sequences shown, not acted on", async () => {
    const run = await runCli(['deploy', '--name', names.hostile, '--runtime', 'node'], dirs.hostile, env);
    expect(run.code, run.stderr + run.stdout).toBe(1);
    expect(run.stdout).toContain('→ load');
    expect(UNSAFE.test(run.stdout), JSON.stringify(run.stdout)).toBe(false);
    expect(UNSAFE.test(run.stderr), JSON.stringify(run.stderr)).toBe(false);
    expect(run.stdout + run.stderr).toContain('\\x1b]8;;http://evil.invalid/\\x07click me');
    expect(run.stderr).toMatch(/^error: build of cli-hostile-\w+ v1 failed: .*boom \\x1b\]8;;/m);
    // The whole log, as `stratus build ID` prints it, shows them escaped too.
    const id = /`stratus build ([0-9a-f-]{36})`/.exec(run.stderr)?.[1];
    expect(id).toBeDefined();
    const log = await runCli(['build', id!], dirs.hostile, env);
    expect(log.stdout).toContain('hostile-build \\x1b]8;;http://evil.invalid/');
    expect(UNSAFE.test(log.stdout), JSON.stringify(log.stdout)).toBe(false);
  }, 400_000);

  it('invokes asynchronously and waits for the result', async () => {
    const run = await runCli(['invoke', names.ok, '--async', '--wait', '--data', '{"n":42}'], dirs.ok, env);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').pop()!)).toEqual({ async: true, data: { n: 42 } });
  }, 120_000);

  it('logs -f prints the line of an invocation made while it follows, until it is stopped', async () => {
    const follow = startCli(['logs', names.ok, '-f', '--interval', '200'], dirs.ok, env);
    try {
      // Its first read prints the earlier lines (the first test's call): only then is it following.
      const until = async (text: string) => {
        const deadline = Date.now() + 30_000;
        while (!follow.out().includes(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        expect(follow.out()).toContain(text);
      };
      await until('cli-marker first');
      const marker = `live-${Date.now().toString(36)}`;
      const res = await fetch(`${platform.url}/fn/${names.ok}?marker=${marker}`);
      expect(res.status).toBe(200);
      await until(`cli-marker ${marker}`);
      // Overlapping polls print it once.
      await new Promise((r) => setTimeout(r, 1000));
      expect(follow.out().split(`cli-marker ${marker}`).length - 1).toBe(1);
    } finally {
      follow.child.kill('SIGINT');
    }
    const end = await follow.done;
    expect(end.stderr).toBe('');
  }, 120_000);

  it('ls --json prints the API answer', async () => {
    const run = await runCli(['ls', '--json'], dirs.ok, env);
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout) as { functions: { name: string; status: string; currentVersion: number }[] };
    expect(body.functions).toEqual(expect.arrayContaining([expect.objectContaining({ name: names.ok, status: 'ready', currentVersion: 1 })]));
  });

  it('lists versions, splits an alias between two for a canary, and rolls back and forth', async () => {
    const v2 = await runCli(['deploy', '--env', 'GREETING=hello from v2'], dirs.ok, env);
    expect(v2.code, v2.stderr + v2.stdout).toBe(0);
    const json = async (args: string[]) => {
      const run = await runCli([...args, '--json'], dirs.ok, env);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as Record<string, unknown>;
    };
    const { versions } = (await json(['versions', names.ok])) as { versions: { version: number; status: string }[] };
    expect(versions.map((v) => [v.version, v.status]).sort()).toEqual([[1, 'ready'], [2, 'ready']]);

    const canary = await runCli(['alias', names.ok, 'beta', '1,2:20'], dirs.ok, env);
    expect(canary.code, canary.stderr).toBe(0);
    expect(canary.stdout).toContain(`${names.ok}@beta → v1 80%, v2 20%`);
    expect(await json(['alias', 'ls', names.ok])).toMatchObject({ aliases: { beta: [{ version: 1, weight: 80 }, { version: 2, weight: 20 }] } });
    const greetings = new Set<string>();
    for (let i = 0; i < 30 && greetings.size < 2; i++) {
      const call = await runCli(['invoke', `${names.ok}@beta`], dirs.ok, env);
      expect(call.code, call.stderr).toBe(0);
      greetings.add((JSON.parse(call.stdout) as { greeting: string }).greeting);
    }
    expect([...greetings].every((g) => g === 'hello from yaml' || g === 'hello from v2')).toBe(true);

    const back = await runCli(['rollback', names.ok], dirs.ok, env);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain(`${names.ok} serves v1 (was v2)`);
    expect(JSON.parse((await runCli(['invoke', names.ok], dirs.ok, env)).stdout)).toMatchObject({ greeting: 'hello from yaml' });
    expect(await json(['rollback', names.ok, '--to', '2'])).toMatchObject({ name: names.ok, version: 2 });
    const removed = await runCli(['alias', 'rm', names.ok, 'beta'], dirs.ok, env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(await json(['alias', 'ls', names.ok])).not.toHaveProperty('aliases.beta');
  }, 400_000);

  it('says what to do when Stratus is not there, the key is wrong, or nothing is configured', async () => {
    // A loopback port that was just free: nothing listens there.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const closed = await runCli(['ls'], dirs.ok, { ...env, STRATUS_URL: `http://127.0.0.1:${port}` });
    expect(closed.code).toBe(3);
    expect(closed.stderr).toMatch(/nothing answers at http:\/\/127\.0\.0\.1:\d+ .*is Stratus running\? Start it with `npm start`/);
    const wrongKey = await runCli(['ls'], dirs.ok, { ...env, STRATUS_API_KEY: 'not-the-key-0123456789' });
    expect(wrongKey.code).toBe(4);
    expect(wrongKey.stderr).toMatch(/refused the API key from STRATUS_API_KEY/);
    const nothing = await runCli(['ls'], dirs.ok, { HOME: env.HOME! });
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/run `stratus login --url URL --key KEY` or set STRATUS_URL/);
  });
});
