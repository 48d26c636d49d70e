// Installs without Docker (process backend): the same command on the host, as the function uid when
// the platform is root, in a sandbox directory of its own, with an environment built from nothing and
// its whole process group killed when it ends, is aborted or times out. No cgroup caps here: the
// process backend is the weaker isolation, for laptops and CI (see docs/security.md).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { InstallPlan, InstallRunner, RunOptions } from './install.js';
import { chownTree, installEnv, installIdentity, moveTree, sandboxSettings, type InstallIdentity, type InstallSandboxSettings } from './install-sandbox.js';

export interface HostRunnerOptions {
  /** Extra CA bundle (PEM); copied into the sandbox so the install's uid can read it. */
  caFile?: string;
  sandbox?: Partial<InstallSandboxSettings>;
  /** Where sandboxes are made (default: the OS temp dir; every folder above it must be searchable by the install's uid). */
  tmpDir?: string;
}

/** After the install's main process exits, how long its output pipes may stay open (a child escaped the group). */
const PIPE_GRACE_MS = 2000;

export class HostInstallRunner implements InstallRunner {
  readonly #sandbox: InstallSandboxSettings;

  constructor(private readonly opts: HostRunnerOptions = {}) {
    this.#sandbox = sandboxSettings(opts.sandbox);
  }

  #tmpDir(): string {
    return this.opts.tmpDir ?? os.tmpdir();
  }

  async removeLeftovers(buildId: string): Promise<void> {
    const prefix = `stratus-install-${buildId}-`;
    const names = await fsp.readdir(this.#tmpDir()).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => n.startsWith(prefix)).map((n) => fsp.rm(path.join(this.#tmpDir(), n), { recursive: true, force: true })));
  }

  /**
   * The code dir moves into a fresh sandbox for the install: the platform's state dir may be closed to
   * other uids (0700), and the sandbox is closed to listing (0711) with unguessable names inside, so
   * another process of the same uid finds nothing there to write into. It moves back afterwards.
   */
  async run(plan: InstallPlan, run: RunOptions): Promise<number> {
    const id = installIdentity(this.#sandbox.uid);
    const { sandbox, secret, code, home } = await makeHostSandbox(this.#tmpDir(), run.buildId);
    try {
      let ca: string | undefined;
      if (this.opts.caFile) {
        ca = path.join(sandbox, `ca-${secret}.pem`);
        await fsp.copyFile(this.opts.caFile, ca);
        await fsp.chmod(ca, 0o644);
      }
      await moveTree(run.dir, code);
      try {
        if (id.drops) {
          await chownTree(home, id.uid, id.gid, 'leaves-first');
          await chownTree(code, id.uid, id.gid, 'leaves-first');
        }
        const env = installEnv({ path: this.#sandbox.hostPath, home, tmp: path.join(home, 'tmp'), caFile: ca, passEnv: this.#sandbox.passEnv });
        return await spawnGroup(plan, run, code, env, id);
      } finally {
        if (id.drops) await chownTree(code, id.platformUid, id.platformGid, 'root-first');
        await moveTree(code, run.dir);
      }
    } finally {
      await fsp.rm(sandbox, { recursive: true, force: true });
    }
  }
}

/**
 * A fresh sandbox dir for one build's host run (install, checks): closed to listing (0711), with
 * unguessable names for the code and the HOME (home/tmp made) inside. Named for the build, so that
 * removeLeftovers() finds what a crash left. The caller removes `sandbox`.
 */
export async function makeHostSandbox(tmpDir: string, buildId: string): Promise<{ sandbox: string; secret: string; code: string; home: string }> {
  const sandbox = await fsp.mkdtemp(path.join(tmpDir, `stratus-install-${buildId}-`));
  try {
    await fsp.chmod(sandbox, 0o711);
    const secret = crypto.randomBytes(12).toString('hex');
    const home = path.join(sandbox, `home-${secret}`);
    await fsp.mkdir(path.join(home, 'tmp'), { recursive: true, mode: 0o700 });
    return { sandbox, secret, code: path.join(sandbox, `code-${secret}`), home };
  } catch (err) {
    await fsp.rm(sandbox, { recursive: true, force: true });
    throw err;
  }
}

/** Runs the command as the leader of a new process group; the whole group is killed when it ends or is aborted. */
export function spawnGroup(plan: InstallPlan, run: RunOptions, cwd: string, env: Record<string, string>, id: InstallIdentity): Promise<number> {
  if (run.signal.aborted) return Promise.resolve(137);
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = plan.command;
    const child = spawn(cmd!, args, {
      cwd,
      env,
      detached: true, // its own process group: what a postinstall starts in the background goes with it
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(id.drops ? { uid: id.uid, gid: id.gid } : {}),
    });
    let grace: NodeJS.Timeout | undefined;
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    const onAbort = () => killGroup();
    const done = () => {
      run.signal.removeEventListener('abort', onAbort);
      clearTimeout(grace);
    };
    run.signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', run.onOutput);
    child.stderr.on('data', run.onStderr ?? run.onOutput);
    child.on('exit', () => {
      killGroup();
      // A process that left the group (setsid) and kept our pipes open must not hold the build.
      grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, PIPE_GRACE_MS);
    });
    child.on('error', (err) => {
      done();
      if (run.signal.aborted) resolve(137);
      else reject(err);
    });
    child.on('close', (code, sig) => {
      done();
      resolve(code ?? (sig ? 128 + 9 : 1));
    });
  });
}
