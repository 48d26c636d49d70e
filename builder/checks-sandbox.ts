// Where the check tools run. They run the function's own code (its tests, its eslint.config.js), so
// they get the install's confinement and less: with Docker, a container of the checks image
// (stratus/checks-node, stratus/checks-python: the runtime image plus the tools) with NO network, the
// code mounted read-only (what the checks run cannot change what ships), the function uid, no
// capabilities, no new privileges, a read-only root, memory/CPU/pids caps and a time limit. Without
// Docker (process backend), a copy of the tree in a host sandbox as the function uid, with the tools
// the host has — and the host's network, which the log says.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { PROJECT_ROOT, RUNTIME_IMAGES_DIR } from '../core/paths.js';
import type { Runtime } from '../core/types.js';
import { BuildFailure } from './build-failure.js';
import { makeHostSandbox, spawnGroup } from './install-host.js';
import { chownTree, installEnv, installIdentity, sandboxSettings, type InstallSandboxSettings } from './install-sandbox.js';
import { imagePath, runContainerToEnd, sandboxHostConfig } from './install.js';

/** Each tool's time limit; the build's own timeout bounds the whole stage as well. */
export const CHECK_TIME_LIMIT_MS = 5 * 60_000;
/** Memory of one tool run (no swap); what a test suite may need, far from what a host has. */
export const CHECK_MEMORY_MB = 1024;
/** What is read of a tool's stdout (ESLint's JSON) and stderr; the rest is counted as cut. */
const STDOUT_READ = 8 * 1024 * 1024;
const STDERR_READ = 1024 * 1024;

export const CHECK_IMAGES: Record<Runtime, string> = { node: 'stratus/checks-node:latest', python: 'stratus/checks-python:latest' };

export interface ToolCommand {
  runtime: Runtime;
  /** The built tree (code and dependencies); never changed by a check. */
  codeDir: string;
  buildId: string;
  /** argv; a leading 'eslint' is replaced by where this sandbox has ESLint. */
  command: string[];
  /** Extra environment ({root} in a value is replaced by where the tool sees the code). */
  env?: Record<string, string>;
  signal: AbortSignal;
  timeLimitMs?: number;
  /** Live output, for the build log. */
  onOutput?: (chunk: Buffer) => void;
}

export interface ToolRun {
  /** Null when the tool was killed (time limit, the build stopped). */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Where the tool saw the code: tool output names files below it. */
  root: string;
}

/** What ESLint is in this sandbox; null with the reason when it has none. */
export type EslintTool = { defaultConfig: string } | { missing: string };

export interface CheckSandbox {
  /** For the build log: where the checks run and what they can reach. */
  describe(runtime: Runtime): string;
  /** Throws (with what an operator does about it) when this sandbox cannot check `runtime` at all. */
  ready(runtime: Runtime): Promise<void>;
  eslint(): EslintTool;
  /** Whether python3 here can import `module` (pyflakes, pytest). */
  hasPythonModule(module: string, codeDir: string, buildId: string, signal: AbortSignal): Promise<boolean>;
  run(cmd: ToolCommand): Promise<ToolRun>;
}

const CODE_IN_CONTAINER = '/code';
const ESLINT_IN_IMAGE = ['node', '/opt/stratus/checks/node_modules/eslint/bin/eslint.js'];

export class ContainerCheckSandbox implements CheckSandbox {
  readonly #sandbox: InstallSandboxSettings;

  constructor(
    private readonly docker: Docker,
    private readonly opts: { images?: Record<Runtime, string>; sandbox?: Partial<InstallSandboxSettings> } = {},
  ) {
    this.#sandbox = sandboxSettings(opts.sandbox);
  }

  #image(runtime: Runtime): string {
    return (this.opts.images ?? CHECK_IMAGES)[runtime];
  }

  describe(runtime: Runtime): string {
    return `in a container of ${this.#image(runtime)}: no network, code read-only, ${CHECK_MEMORY_MB} MB, ${CHECK_TIME_LIMIT_MS / 1000} s per tool`;
  }

  async ready(runtime: Runtime): Promise<void> {
    const image = this.#image(runtime);
    const present = await this.docker.getImage(image).inspect().then(() => true, () => false);
    if (!present) throw new BuildFailure(`the checks image ${image} is not on this host; an operator builds it with "bash scripts/build-runtime-images.sh"`);
  }

  eslint(): EslintTool {
    return { defaultConfig: '/opt/stratus/checks/eslint.default.config.mjs' };
  }

  async hasPythonModule(): Promise<boolean> {
    return true; // baked into stratus/checks-python, and its build checks they import
  }

  async run(cmd: ToolCommand): Promise<ToolRun> {
    const image = this.#image(cmd.runtime);
    const id = installIdentity(this.#sandbox.uid);
    const env = { ...installEnv({ path: await imagePath(this.docker, image), home: '/tmp', tmp: '/tmp', passEnv: {} }), ...rooted(cmd.env, CODE_IN_CONTAINER) };
    const argv = cmd.command[0] === 'eslint' ? [...ESLINT_IN_IMAGE, ...cmd.command.slice(1)] : cmd.command;
    return limited(cmd, CODE_IN_CONTAINER, async (sinks, signal) => {
      const container = await this.docker.createContainer({
        Image: image,
        Entrypoint: ['/usr/bin/env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)],
        Cmd: argv,
        WorkingDir: CODE_IN_CONTAINER,
        User: `${id.uid}:${id.gid}`,
        Labels: { 'dev.stratus.build': cmd.buildId, 'dev.stratus.check': argv.join(' ').slice(0, 200) },
        NetworkDisabled: true,
        HostConfig: {
          Binds: [`${cmd.codeDir}:${CODE_IN_CONTAINER}:ro`],
          NetworkMode: 'none',
          ...sandboxHostConfig({ memoryMb: CHECK_MEMORY_MB, cpus: 1, pidsLimit: 256, tmpMb: 256 }),
        },
      });
      return runContainerToEnd(this.docker, container, sinks, signal);
    });
  }
}

/**
 * The process backend's checks: the host's tools on a copy of the tree in a sandbox directory (0711,
 * unguessable names), as the function uid when the platform is root, in a process group killed at the end.
 */
export class HostCheckSandbox implements CheckSandbox {
  readonly #sandbox: InstallSandboxSettings;

  constructor(private readonly opts: { sandbox?: Partial<InstallSandboxSettings>; tmpDir?: string } = {}) {
    this.#sandbox = sandboxSettings(opts.sandbox);
  }

  describe(): string {
    return `on this host (process backend) as uid ${installIdentity(this.#sandbox.uid).uid} on a copy of the code, ${CHECK_TIME_LIMIT_MS / 1000} s per tool; NOT cut off from the network and without memory caps (no containers here)`;
  }

  async ready(): Promise<void> {}

  eslint(): EslintTool {
    const bin = path.join(PROJECT_ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');
    if (!fs.existsSync(bin)) return { missing: `ESLint is not installed with Stratus (${bin}); run npm install in ${PROJECT_ROOT} (without --omit=dev) to lint here` };
    return { defaultConfig: path.join(RUNTIME_IMAGES_DIR, 'checks-node', 'eslint.default.config.mjs') };
  }

  async hasPythonModule(module: string, codeDir: string, buildId: string, signal: AbortSignal): Promise<boolean> {
    const probe = await this.run({ runtime: 'python', codeDir, buildId, command: ['python3', '-c', `import ${module}`], signal, timeLimitMs: 30_000 });
    return probe.exitCode === 0;
  }

  async run(cmd: ToolCommand): Promise<ToolRun> {
    // An install's kind of sandbox, so that HostInstallRunner.removeLeftovers clears it after a crash too.
    const { sandbox, code, home } = await makeHostSandbox(this.opts.tmpDir ?? os.tmpdir(), cmd.buildId);
    try {
      await fsp.cp(cmd.codeDir, code, { recursive: true, verbatimSymlinks: true });
      const id = installIdentity(this.#sandbox.uid);
      if (id.drops) {
        await chownTree(home, id.uid, id.gid, 'leaves-first');
        await chownTree(code, id.uid, id.gid, 'leaves-first');
      }
      const env = { ...installEnv({ path: this.#sandbox.hostPath, home, tmp: path.join(home, 'tmp'), passEnv: this.#sandbox.passEnv }), ...rooted(cmd.env, code) };
      const argv = cmd.command[0] === 'eslint' ? [process.execPath, path.join(PROJECT_ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js'), ...cmd.command.slice(1)] : cmd.command;
      return await limited(cmd, code, (sinks, signal) =>
        spawnGroup({ label: argv[0]!, command: argv }, { runtime: cmd.runtime, dir: code, buildId: cmd.buildId, onOutput: sinks.stdout, onStderr: sinks.stderr, signal }, code, env, id),
      );
    } finally {
      await fsp.rm(sandbox, { recursive: true, force: true });
    }
  }
}

const rooted = (env: Record<string, string> | undefined, root: string): Record<string, string> =>
  Object.fromEntries(Object.entries(env ?? {}).map(([k, v]) => [k, v.replaceAll('{root}', root)]));

type Sinks = { stdout: (chunk: Buffer) => void; stderr: (chunk: Buffer) => void };

/** Runs `start` under the tool's time limit (and the build's signal), reading its output up to a bound. */
async function limited(cmd: ToolCommand, root: string, start: (sinks: Sinks, signal: AbortSignal) => Promise<number>): Promise<ToolRun> {
  const stop = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stop.abort();
  }, cmd.timeLimitMs ?? CHECK_TIME_LIMIT_MS);
  const onBuildStop = () => stop.abort();
  cmd.signal.addEventListener('abort', onBuildStop, { once: true });
  const out = bounded(STDOUT_READ);
  const err = bounded(STDERR_READ);
  try {
    if (cmd.signal.aborted) stop.abort();
    const code = await start(
      {
        stdout: (c) => (out.add(c), cmd.onOutput?.(c)),
        stderr: (c) => (err.add(c), cmd.onOutput?.(c)),
      },
      stop.signal,
    );
    return { exitCode: stop.signal.aborted ? null : code, stdout: out.text(), stderr: err.text(), timedOut, root };
  } finally {
    clearTimeout(timer);
    cmd.signal.removeEventListener('abort', onBuildStop);
  }
}

function bounded(limit: number): { add: (c: Buffer) => void; text: () => string } {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    add: (c) => {
      if (size >= limit) return;
      chunks.push(c.subarray(0, limit - size));
      size += Math.min(c.length, limit - size);
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}
