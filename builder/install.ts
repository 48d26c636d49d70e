// The dependency step of a build: which command a runtime's manifest calls for, and where it runs —
// in a throwaway container of the runtime image (Docker), or on the host (process backend, in
// install-host.ts). Either way the install is the uploader's code running (lifecycle scripts): it runs
// as an unprivileged uid with an environment built from nothing (install-sandbox.ts), its output
// streams into the build log, and the code dir comes back with its dependencies, owned by the platform.

import fsp from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { Runtime } from '../core/types.js';
import { chownTree, DEFAULT_INSTALL_PATH, installEnv, installIdentity, sandboxSettings, type InstallSandboxSettings } from './install-sandbox.js';

export interface InstallPlan {
  /** Short name for messages: "npm ci", "npm install", "pip install". */
  label: string;
  command: string[];
}

const exists = (p: string) => fsp.access(p).then(() => true, () => false);

/**
 * The install a code tree needs, or null when it declares no dependencies. `dev`: with the
 * devDependencies, which the check stage's tests and lint config need; PRUNE_DEV_PLAN takes them
 * out again before the image.
 */
export async function planInstall(runtime: Runtime, dir: string, opts: { dev?: boolean } = {}): Promise<InstallPlan | null> {
  if (runtime === 'node') {
    if (!(await exists(path.join(dir, 'package.json')))) return null;
    const locked = (await exists(path.join(dir, 'package-lock.json'))) || (await exists(path.join(dir, 'npm-shrinkwrap.json')));
    const verb = locked ? 'ci' : 'install';
    return { label: `npm ${verb}`, command: ['npm', verb, ...(opts.dev ? [] : ['--omit=dev']), '--no-audit', '--no-fund', '--loglevel=http'] };
  }
  if (!(await exists(path.join(dir, 'requirements.txt')))) return null;
  return {
    label: 'pip install',
    command: ['python3', '-m', 'pip', 'install', '--no-cache-dir', '--disable-pip-version-check', '-r', 'requirements.txt', '--target', '.python_packages'],
  };
}

/** Takes the devDependencies an install with `dev` brought out of the tree again (no registry needed). */
export const PRUNE_DEV_PLAN: InstallPlan = { label: 'npm prune', command: ['npm', 'prune', '--omit=dev', '--no-audit', '--no-fund'] };

export interface RunOptions {
  runtime: Runtime;
  /** Code dir, modified in place. */
  dir: string;
  buildId: string;
  onOutput: (chunk: Buffer) => void;
  /** Where stderr goes when it must be told apart from stdout (the check tools); absent: onOutput. */
  onStderr?: (chunk: Buffer) => void;
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
  sandbox?: Partial<InstallSandboxSettings>;
  memoryMb?: number;
  /** CPU cap of one install, in cores (NanoCpus). */
  cpus?: number;
  pidsLimit?: number;
  /** Size of the tmpfs at /tmp, the install's HOME (npm's cache lives there; it counts against memory). */
  tmpMb?: number;
}

/**
 * The confinement of a container that runs the uploader's code at build time (install, checks): no
 * capabilities, no new privileges, a read-only root with a tmpfs /tmp, memory (no swap), CPU and pids
 * caps, and no log kept by Docker — the output is streamed to the build log (capped there), and a copy
 * on the host's disk would be an unbounded write the code controls.
 */
export function sandboxHostConfig(o: { memoryMb: number; cpus: number; pidsLimit: number; tmpMb: number }): Docker.HostConfig {
  return {
    Memory: o.memoryMb * 1024 * 1024,
    MemorySwap: o.memoryMb * 1024 * 1024,
    NanoCpus: Math.round(o.cpus * 1e9),
    PidsLimit: o.pidsLimit,
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges:true'],
    ReadonlyRootfs: true,
    Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${o.tmpMb}m` },
    LogConfig: { Type: 'none', Config: {} },
  };
}

/**
 * Starts a created container and follows it to its end: its stdout and stderr to the sinks, killed when
 * `signal` aborts (137), removed afterwards whatever happened. Resolves with its exit code. Shared by
 * the install and the check stage (checks-sandbox.ts).
 */
export async function runContainerToEnd(docker: Docker, container: Docker.Container, sinks: { stdout: (chunk: Buffer) => void; stderr: (chunk: Buffer) => void }, signal: AbortSignal): Promise<number> {
  const kill = () => void container.kill().catch(() => {});
  signal.addEventListener('abort', kill, { once: true });
  try {
    const stream = await container.attach({ stream: true, stdout: true, stderr: true });
    const out = new PassThrough();
    const err = new PassThrough();
    out.on('data', sinks.stdout);
    err.on('data', sinks.stderr);
    const ended = new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
    docker.modem.demuxStream(stream, out, err);
    if (signal.aborted) return 137;
    await container.start();
    const result = (await container.wait()) as { StatusCode: number };
    await ended;
    return result.StatusCode;
  } finally {
    signal.removeEventListener('abort', kill);
    await container.remove({ force: true }).catch(() => {});
  }
}

/**
 * An install in a throwaway container of the runtime image: the function uid, no capabilities, no new
 * privileges, a read-only root with a tmpfs HOME, pids/memory/CPU caps, no log kept by Docker. The
 * network stays (installs need the registry).
 */
export class ContainerInstallRunner implements InstallRunner {
  readonly #sandbox: InstallSandboxSettings;

  constructor(private readonly docker: Docker, private readonly opts: ContainerRunnerOptions) {
    this.#sandbox = sandboxSettings(opts.sandbox);
  }

  async removeLeftovers(buildId: string): Promise<void> {
    const found = await this.docker.listContainers({ all: true, filters: { label: [`dev.stratus.build=${buildId}`] } });
    await Promise.all(found.map((c) => this.docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
  }

  async run(plan: InstallPlan, run: RunOptions): Promise<number> {
    const id = installIdentity(this.#sandbox.uid);
    // The code dir is the install's for the install only; afterwards it is the platform's again, so
    // that the install's uid (which functions also run as) can change nothing of the artifact.
    if (id.drops) await chownTree(run.dir, id.uid, id.gid, 'leaves-first');
    try {
      return await this.#runContainer(plan, run, `${id.uid}:${id.gid}`);
    } finally {
      if (id.drops) await chownTree(run.dir, id.platformUid, id.platformGid, 'root-first');
    }
  }

  async #runContainer(plan: InstallPlan, run: RunOptions, user: string): Promise<number> {
    const { caFile } = this.opts;
    const image = this.opts.images[run.runtime];
    const env = installEnv({ path: await imagePath(this.docker, image), home: '/tmp', caFile: caFile ? CA_IN_CONTAINER : undefined, passEnv: this.#sandbox.passEnv });
    const container = await this.docker.createContainer({
      Image: image,
      // `env -i`: the image's own ENV (STRATUS_CODE_DIR, ...) is not the install's business either.
      Entrypoint: ['/usr/bin/env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)],
      Cmd: plan.command,
      WorkingDir: '/code',
      User: user,
      Labels: { 'dev.stratus.build': run.buildId },
      HostConfig: {
        Binds: [`${run.dir}:/code`, ...(caFile ? [`${caFile}:${CA_IN_CONTAINER}:ro`] : [])],
        ...sandboxHostConfig({ memoryMb: this.opts.memoryMb ?? 1024, cpus: this.opts.cpus ?? 1, pidsLimit: this.opts.pidsLimit ?? 512, tmpMb: this.opts.tmpMb ?? 512 }),
      },
    });
    return runContainerToEnd(this.docker, container, { stdout: run.onOutput, stderr: run.onOutput }, run.signal);
  }
}

/** An image's PATH (where its node/python live); `env -i` would otherwise leave none. */
export async function imagePath(docker: Docker, image: string): Promise<string> {
  const info = (await docker.getImage(image).inspect()) as { Config?: { Env?: string[] | null } };
  const entry = info.Config?.Env?.find((e) => e.startsWith('PATH='));
  return entry ? entry.slice('PATH='.length) : DEFAULT_INSTALL_PATH;
}
