import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostInstallRunner, planInstall, type RunOptions } from '../../builder/install.js';

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

  it('runs in the code dir, streams output and reports the exit code', async () => {
    const out: Buffer[] = [];
    const code = await new HostInstallRunner().run(
      { label: 'probe', command: [process.execPath, '-e', 'console.log(process.cwd()); console.error("to stderr"); process.exit(3)'] },
      opts(new AbortController().signal, out),
    );
    expect(code).toBe(3);
    const text = Buffer.concat(out).toString();
    expect(text).toContain(fs.realpathSync(dir));
    expect(text).toContain('to stderr');
  });

  it('an abort kills the command', async () => {
    const stop = new AbortController();
    const running = new HostInstallRunner().run({ label: 'hang', command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] }, opts(stop.signal, []));
    stop.abort();
    expect(await running).not.toBe(0);
  });
});
