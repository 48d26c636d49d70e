import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostInstallRunner } from '../../builder/install-host.js';
import { planInstall, type RunOptions } from '../../builder/install.js';
import { capOutput } from '../../builder/install-sandbox.js';
import { loadConfig } from '../../core/config.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-install-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('planInstall', () => {
  it('nothing to install without a manifest', async () => {
    expect(await planInstall('node', dir)).toBeNull();
    expect(await planInstall('python', dir)).toBeNull();
  });
  it('npm ci with a lock file, npm install without, never dev dependencies', async () => {
    fs.writeFileSync(path.join(dir, 'package.json'), '{}');
    expect((await planInstall('node', dir))!.command.slice(0, 3)).toEqual(['npm', 'install', '--omit=dev']);
    fs.writeFileSync(path.join(dir, 'package-lock.json'), '{}');
    expect((await planInstall('node', dir))!.command.slice(0, 3)).toEqual(['npm', 'ci', '--omit=dev']);
  });
  it('pip into .python_packages, where the runtime looks', async () => {
    fs.writeFileSync(path.join(dir, 'requirements.txt'), 'requests\n');
    const plan = (await planInstall('python', dir))!;
    expect(plan.label).toBe('pip install');
    expect(plan.command.join(' ')).toMatch(/-m pip install .*-r requirements.txt --target .python_packages$/);
  });
});

describe('HostInstallRunner', () => {
  const opts = (signal: AbortSignal, out: Buffer[]): RunOptions => ({ runtime: 'node', dir, buildId: 'b1', onOutput: (c) => out.push(c), signal });
  const isRoot = process.getuid?.() === 0;
  /** Runs a node script as the install command; resolves with its exit code and everything it printed. */
  async function install(script: string, runner = new HostInstallRunner({ sandbox: { hostPath: path.dirname(process.execPath) } }), signal = new AbortController().signal) {
    const out: Buffer[] = [];
    const code = await runner.run({ label: 'probe', command: [process.execPath, '-e', script] }, opts(signal, out));
    return { code, text: Buffer.concat(out).toString() };
  }
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  };

  it('runs with the code, streams output and reports the exit code; the code dir comes back where it was', async () => {
    fs.writeFileSync(path.join(dir, 'index.js'), 'hello');
    const { code, text } = await install('console.log(require("fs").readFileSync("index.js", "utf8")); console.error("to stderr"); require("fs").writeFileSync("made.txt", "x"); process.exit(3)');
    expect(code).toBe(3);
    expect(text).toContain('hello');
    expect(text).toContain('to stderr');
    expect(fs.readFileSync(path.join(dir, 'made.txt'), 'utf8')).toBe('x');
  });

  it('gets an environment built from nothing: no Stratus setting or secret of the platform, HOME in its sandbox, the CA, the passed settings', async () => {
    const saved = process.env.STRATUS_API_KEY;
    process.env.STRATUS_API_KEY = 'admin-key-of-the-platform-0123456789';
    try {
      const ca = path.join(os.tmpdir(), `stratus-test-ca-${process.pid}.pem`);
      fs.writeFileSync(ca, 'PEM', { mode: 0o600 });
      const runner = new HostInstallRunner({ caFile: ca, sandbox: { hostPath: '/usr/bin:/bin', passEnv: { HTTPS_PROXY: 'http://127.0.0.1:3128' } } });
      const { code, text } = await install('const e = process.env; console.log(JSON.stringify({ e, ca: require("fs").readFileSync(e.NODE_EXTRA_CA_CERTS, "utf8") }))', runner);
      fs.rmSync(ca);
      expect(code).toBe(0);
      const { e, ca: caText } = JSON.parse(text) as { e: Record<string, string>; ca: string };
      expect(Object.keys(e).sort()).toEqual(['HOME', 'HTTPS_PROXY', 'NODE_EXTRA_CA_CERTS', 'PATH', 'PIP_BREAK_SYSTEM_PACKAGES', 'PIP_CERT', 'TMPDIR', 'npm_config_cafile', 'npm_config_update_notifier']);
      expect(e.PATH).toBe('/usr/bin:/bin');
      expect(e.HOME).toMatch(new RegExp(`^${os.tmpdir()}/stratus-install-b1-`));
      expect(caText).toBe('PEM'); // a copy the install's uid can read
      expect(text).not.toContain('admin-key-of-the-platform');
    } finally {
      if (saved === undefined) delete process.env.STRATUS_API_KEY;
      else process.env.STRATUS_API_KEY = saved;
    }
  });

  it.skipIf(!isRoot)('as root: runs as the function uid with no capabilities; what it made comes back owned by the platform', async () => {
    const { code, text } = await install(
      'const fs = require("fs"); fs.mkdirSync("node_modules/x", { recursive: true }); fs.writeFileSync("node_modules/x/y", ""); const s = fs.readFileSync("/proc/self/status", "utf8"); console.log(process.getuid(), process.getgid(), /CapEff:\\s*(\\S+)/.exec(s)[1])',
      new HostInstallRunner({ sandbox: { uid: 10001, hostPath: path.dirname(process.execPath) } }),
    );
    expect(code).toBe(0);
    expect(text.trim()).toBe('10001 10001 0000000000000000');
    for (const p of [dir, path.join(dir, 'node_modules/x'), path.join(dir, 'node_modules/x/y')]) expect(fs.statSync(p).uid).toBe(0);
  });

  it('an abort kills the command and everything it started (its process group)', async () => {
    const stop = new AbortController();
    const out: Buffer[] = [];
    const running = new HostInstallRunner({ sandbox: { hostPath: '/usr/bin:/bin' } }).run(
      { label: 'hang', command: ['sh', '-c', 'sleep 300 & echo "child $!"; wait'] },
      { ...opts(stop.signal, out), onOutput: (c) => {
        out.push(c);
        if (/child \d+/.test(Buffer.concat(out).toString())) stop.abort();
      } },
    );
    expect(await running).not.toBe(0);
    const pid = Number(/child (\d+)/.exec(Buffer.concat(out).toString())![1]);
    expect(alive(pid)).toBe(false);
  });

  it('what the command left running in the background is killed when it exits, and does not hold the build', async () => {
    const out: Buffer[] = [];
    const code = await new HostInstallRunner({ sandbox: { hostPath: '/usr/bin:/bin' } }).run(
      { label: 'daemon', command: ['sh', '-c', 'sleep 300 & echo "child $!"'] },
      opts(new AbortController().signal, out),
    );
    expect(code).toBe(0);
    const pid = Number(/child (\d+)/.exec(Buffer.concat(out).toString())![1]);
    expect(alive(pid)).toBe(false);
  });

  it('leaves no sandbox behind, and removeLeftovers clears one a crash left', async () => {
    await install('0');
    expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('stratus-install-b1-'))).toEqual([]);
    const left = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-install-b9-'));
    await new HostInstallRunner().removeLeftovers('b9');
    expect(fs.existsSync(left)).toBe(false);
  });
});

describe('capOutput', () => {
  it('passes output up to the limit, cuts the chunk that crosses it, tells once, drops the rest', () => {
    const kept: string[] = [];
    let cuts = 0;
    const write = capOutput(10, (c) => kept.push(c.toString()), () => (cuts += 1));
    write(Buffer.from('abcd'));
    write(Buffer.from('efghijkl'));
    write(Buffer.from('more'));
    write(Buffer.from('and more'));
    expect(kept).toEqual(['abcd', 'efghij']);
    expect(cuts).toBe(1);
  });
});

describe('what the config hands installs', () => {
  it('the machine\'s proxy and npm/pip registry settings only: no Stratus setting, no other host variable', () => {
    const cfg = loadConfig({
      STRATUS_API_KEY: 'admin-key-of-the-platform-0123456789',
      STRATUS_REDIS_URL: 'redis://:secret@127.0.0.1:6379',
      HTTPS_PROXY: 'http://127.0.0.1:3128',
      no_proxy: 'localhost',
      npm_config_registry: 'http://127.0.0.1:4873/',
      PIP_INDEX_URL: 'http://127.0.0.1:3141/simple',
      AWS_SECRET_ACCESS_KEY: 'not-for-installs',
      PATH: '/usr/bin',
    });
    expect(cfg.build.installEnv).toEqual({ HTTPS_PROXY: 'http://127.0.0.1:3128', no_proxy: 'localhost', npm_config_registry: 'http://127.0.0.1:4873/', PIP_INDEX_URL: 'http://127.0.0.1:3141/simple' });
  });
});
