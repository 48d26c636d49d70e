// The dependency step of a build: which command a runtime's manifest calls for, and where it runs —
// in a throwaway container of the runtime image (Docker), or on the host (process backend). Either
// way the output streams into the build log and the code dir comes back with its dependencies.

import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { Runtime } from '../core/types.js';

export interface InstallPlan {
  /** Short name for messages: "npm ci", "npm install", "pip install". */
  label: string;
  command: string[];
}

const exists = (p: string) => fsp.access(p).then(() => true, () => false);

/** The install a code tree needs, or null when it declares no dependencies. */
export async function planInstall(runtime: Runtime, dir: string): Promise<InstallPlan | null> {
  if (runtime === 'node') {
    if (!(await exists(path.join(dir, 'package.json')))) return null;
    const locked = (await exists(path.join(dir, 'package-lock.json'))) || (await exists(path.join(dir, 'npm-shrinkwrap.json')));
    const verb = locked ? 'ci' : 'install';
    return { label: `npm ${verb}`, command: ['npm', verb, '--omit=dev', '--no-audit', '--no-fund', '--loglevel=http'] };
  }
  if (!(await exists(path.join(dir, 'requirements.txt')))) return null;
  return {
    label: 'pip install',
    command: ['python3', '-m', 'pip', 'install', '--no-cache-dir', '--disable-pip-version-check', '-r', 'requirements.txt', '--target', '.python_packages'],
  };
}

export interface RunOptions {
  runtime: Runtime;
  /** Code dir, modified in place. */
  dir: string;
  buildId: string;
  onOutput: (chunk: Buffer) => void;
  signal: AbortSignal;
}

/** Runs an install plan; resolves with the exit code. Rejects only when the command could not run at all. */
export interface InstallRunner {
  run(plan: InstallPlan, opts: RunOptions): Promise<number>;
  /** Removes what an install of this build left running when the platform died mid-build (a container keeps going without us). */
  removeLeftovers?(buildId: string): Promise<void>;
}

const CA_IN_CONTAINER = '/etc/stratus/build-ca.pem';

export interface ContainerRunnerOptions {
  images: Record<Runtime, string>;
  /** Extra CA bundle (PEM) for registries behind an intercepting proxy; mounted read-only. */
  caFile: string | undefined;
  memoryMb?: number;
}

export class ContainerInstallRunner implements InstallRunner {
  constructor(private readonly docker: Docker, private readonly opts: ContainerRunnerOptions) {}

  async removeLeftovers(buildId: string): Promise<void> {
    const found = await this.docker.listContainers({ all: true, filters: { label: [`dev.stratus.build=${buildId}`] } });
    await Promise.all(found.map((c) => this.docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
  }

  async run(plan: InstallPlan, run: RunOptions): Promise<number> {
    const { caFile } = this.opts;
    const env = [
      'HOME=/tmp',
      'npm_config_update_notifier=false',
      // Debian's pip refuses to install next to the system's packages; --target keeps them apart anyway.
      'PIP_BREAK_SYSTEM_PACKAGES=1',
      ...(caFile ? [`NODE_EXTRA_CA_CERTS=${CA_IN_CONTAINER}`, `PIP_CERT=${CA_IN_CONTAINER}`, `npm_config_cafile=${CA_IN_CONTAINER}`] : []),
    ];
    const container = await this.docker.createContainer({
      Image: this.opts.images[run.runtime],
      Cmd: plan.command,
      WorkingDir: '/code',
      // As the platform's own user, so that what the install writes stays ours to move and delete.
      User: `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`,
      Env: env,
      Labels: { 'dev.stratus.build': run.buildId },
      HostConfig: {
        Binds: [`${run.dir}:/code`, ...(caFile ? [`${caFile}:${CA_IN_CONTAINER}:ro`] : [])],
        Memory: (this.opts.memoryMb ?? 1024) * 1024 * 1024,
        PidsLimit: 1024,
      },
    });
    const kill = () => void container.kill().catch(() => {});
    run.signal.addEventListener('abort', kill, { once: true });
    try {
      const stream = await container.attach({ stream: true, stdout: true, stderr: true });
      const out = new PassThrough();
      out.on('data', run.onOutput);
      const ended = new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', () => resolve());
      });
      this.docker.modem.demuxStream(stream, out, out);
      await container.start();
      const result = (await container.wait()) as { StatusCode: number };
      await ended;
      return result.StatusCode;
    } finally {
      run.signal.removeEventListener('abort', kill);
      await container.remove({ force: true }).catch(() => {});
    }
  }
}

/** Without Docker: the same command on the host, in the code dir, with the platform's environment. */
export class HostInstallRunner implements InstallRunner {
  run(plan: InstallPlan, run: RunOptions): Promise<number> {
    return new Promise((resolve, reject) => {
      const [cmd, ...args] = plan.command;
      const child = spawn(cmd!, args, { cwd: run.dir, stdio: ['ignore', 'pipe', 'pipe'], signal: run.signal, killSignal: 'SIGKILL' });
      child.stdout.on('data', run.onOutput);
      child.stderr.on('data', run.onOutput);
      child.on('error', (err) => (run.signal.aborted ? resolve(137) : reject(err)));
      child.on('close', (code, sig) => resolve(code ?? (sig ? 128 + 9 : 1)));
    });
  }
}
