// One build, phase by phase: extract → install → check → image → push → load, then the tree becomes the version's
// artifact. It knows nothing of queues or records: it reports phases to its caller, and throws a
// BuildFailure (a message for the user) or any other error (ours, logged by the caller).

import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../core/lifecycle.js';
import type { CheckReport } from '../core/check-report.js';
import type { LoadCheck } from '../core/ports/load-check.js';
import type { BuildRequest, BuildStage, Runtime } from '../core/types.js';
import { BuildFailure } from './build-failure.js';
import type { BuildLog } from './build-log.js';
import { extractUpload, type ExtractLimits } from './extract.js';
import { checkHandler, effectiveHandler } from './handler.js';
import { packageJsonFor } from './module-type.js';
import type { ImageSpec } from './image.js';
import { planInstall, PRUNE_DEV_PLAN, type InstallRunner } from './install.js';
import type { CheckStage } from './checks.js';
import { checkLoad } from './load-check.js';
import { capOutput, INSTALL_OUTPUT_LIMIT } from './install-sandbox.js';
import { secretNote, secretPathsIn } from './secret-note.js';
import { checkTree, TreeViolation, type TreeLimits } from './tree-check.js';

export type BuildPhase = BuildStage;

/** Builds and pushes images; the Docker implementation is in image.ts, tests pass a fake. */
export interface ImageStep {
  /** Whether the runtime image a build starts from is on this host (installs run in it, images build FROM it). */
  hasBase?(image: string): Promise<boolean>;
  build(codeDir: string, spec: ImageSpec, log: (line: string) => void, signal: AbortSignal): Promise<void>;
  push(tag: string, log: (line: string) => void, signal: AbortSignal): Promise<string | null>;
}

export interface JobContext {
  limits: ExtractLimits;
  runner: InstallRunner;
  /** Bytes of install output the build log keeps (default INSTALL_OUTPUT_LIMIT, 1 MiB). */
  installOutputLimit?: number;
  imageStep: ImageStep | null;
  /** Starts the built version once before it may become ready (load-check.ts); null: no check (a builder given none). */
  loadCheck: LoadCheck | null;
  /** Lint and the function's tests between install and image (checks.ts); null: no check stage. */
  checks?: CheckStage | null;
  /** Keeps the check stage's report with the build, passed or failed, before the stage's verdict. */
  onReport?: (report: CheckReport) => Promise<void>;
  baseImages: Record<Runtime, string>;
  tagFor: (fn: string, version: number) => string;
  workDir: string;
  artifactDir: string;
  clock: Clock;
  log: BuildLog;
  signal: AbortSignal;
  /** Called as each phase starts (the caller updates the record) and ends (with its duration). */
  onPhase: (phase: BuildPhase) => Promise<void>;
  onPhaseDone: (phase: BuildPhase, ms: number) => void;
}

export interface JobResult {
  image: string | null;
  /** The manifest digest the registry reported for the pushed image (sha256:…), when it did. */
  digest: string | null;
  artifactDir: string;
  handler: string;
}

/** An upload unpacked and checked: the code tree and the handler it runs. */
export interface PreparedSource {
  codeDir: string;
  handler: string;
  summary: string;
}

/**
 * Unpacks the upload into `codeDir` (which must not exist) and checks that the handler's file is there.
 * Runs while the upload request is still open (BuildService.prepare), or at build time after a restart.
 */
export async function unpackSource(req: Pick<BuildRequest, 'config' | 'sourcePath' | 'sourceName'>, codeDir: string, limits: ExtractLimits): Promise<PreparedSource> {
  const runtime = req.config.runtime;
  if (!runtime) throw new BuildFailure('the function has no runtime; set "runtime" to "node" or "python" in its configuration');
  await fsp.mkdir(path.dirname(codeDir), { recursive: true });
  const x = await extractUpload(req.sourcePath, req.sourceName, codeDir, limits);
  const handler = effectiveHandler(req.config, runtime, x.singleFile);
  try {
    await checkHandler(codeDir, runtime, handler);
  } catch (err) {
    await fsp.rm(codeDir, { recursive: true, force: true });
    throw err;
  }
  return { codeDir, handler, summary: `unpacked ${x.kind} upload ${req.sourceName}: ${x.entries} entries, ${x.unpackedBytes} bytes` };
}

/** Runs one build. `prepared` is the tree unpacked at upload time; without it (after a restart) the upload is unpacked again. */
export async function runBuildJob(req: BuildRequest, ctx: JobContext, prepared: PreparedSource | null): Promise<JobResult> {
  const runtime = req.config.runtime;
  if (!runtime) throw new BuildFailure('the function has no runtime; set "runtime" to "node" or "python" in its configuration');

  const source = await phase(ctx, 'extract', async () => {
    const src = prepared ?? (await unpackSource(req, path.join(ctx.workDir, 'code'), ctx.limits));
    ctx.log.line('extract', src.summary);
    ctx.log.line('extract', `handler ${src.handler}`);
    // Before the install adds node_modules: what the uploader sent, not what packages ship.
    const note = secretNote(await secretPathsIn(src.codeDir, ctx.limits.maxEntries));
    if (note) ctx.log.line('extract', note);
    return src;
  });
  const { codeDir, handler } = source;
  let withDev = false;

  await phase(ctx, 'install', async () => {
    const base = ctx.baseImages[runtime];
    if (ctx.imageStep?.hasBase && !(await ctx.imageStep.hasBase(base))) {
      throw new BuildFailure(
        `the ${runtime} runtime image ${base} is not on this host; an operator builds it with "bash scripts/build-runtime-images.sh" (or points STRATUS_RUNTIME_IMAGE_${runtime.toUpperCase()} at one)`,
      );
    }
    withDev = (await ctx.checks?.needsDevDependencies({ runtime, config: req.config, codeDir })) ?? false;
    const plan = await planInstall(runtime, codeDir, { dev: withDev });
    if (plan && withDev) ctx.log.line('install', 'with devDependencies, for the checks (the test runner, the lint config); pruned again before the image');
    if (!plan) {
      ctx.log.line('install', runtime === 'node' ? 'no package.json: no dependencies to install' : 'no requirements.txt: no dependencies to install');
    } else {
      ctx.log.line('install', `$ ${plan.command.join(' ')}`);
      const limit = ctx.installOutputLimit ?? INSTALL_OUTPUT_LIMIT;
      const onOutput = capOutput(limit, (chunk) => ctx.log.chunk('install', chunk), () => {
        ctx.log.chunk('install', '\n');
        ctx.log.line('install', `… install output past ${formatBytes(limit)} was left out of this log; the install goes on`);
      });
      const code = await ctx.runner.run(plan, { runtime, dir: codeDir, buildId: req.buildId, onOutput, signal: ctx.signal });
      ctx.signal.throwIfAborted();
      if (code !== 0) throw new BuildFailure(`${plan.label} exited with code ${code}: see the build log`);
      // The install ran the uploader's scripts: what it left is held to the upload's rules.
      await checkTree(codeDir, installedTreeLimits(ctx.limits), `the dependency install (${plan.label})`).catch((err: unknown) => {
        throw err instanceof TreeViolation ? new BuildFailure(err.message) : err;
      });
    }
    // A Node tree without a package.json gets one, typed by its handler's syntax (module-type.ts).
    if (runtime === 'node') await fsp.writeFile(path.join(codeDir, 'package.json'), await packageJsonFor(codeDir, handler), { flag: 'wx' }).catch(() => {});
    await normalizeModes(codeDir);
  });

  // Before the image: code that fails its own tests or lints with an error never becomes a version.
  const checks = ctx.checks;
  if (checks) {
    await phase(ctx, 'check', async () => {
      const limit = ctx.installOutputLimit ?? INSTALL_OUTPUT_LIMIT;
      const chunk = capOutput(limit, (c) => ctx.log.chunk('check', c), () => {
        ctx.log.chunk('check', '\n');
        ctx.log.line('check', `… test output past ${formatBytes(limit)} was left out of this log; the report keeps its end`);
      });
      const target = { runtime, config: req.config, codeDir, buildId: req.buildId };
      const report = await checks.run(target, { line: (l) => ctx.log.line('check', l), chunk }, ctx.signal);
      await ctx.onReport?.(report);
      const failure = checks.failureOf(report, req.buildId);
      if (failure) throw failure;
      if (withDev) {
        ctx.log.line('check', `$ ${PRUNE_DEV_PLAN.command.join(' ')}`);
        const code = await ctx.runner.run(PRUNE_DEV_PLAN, { runtime, dir: codeDir, buildId: req.buildId, onOutput: chunk, signal: ctx.signal });
        ctx.signal.throwIfAborted();
        if (code !== 0) throw new BuildFailure(`npm prune (taking the devDependencies out again) exited with code ${code}: see the build log`);
      }
    });
  }

  let image: string | null = null;
  let digest: string | null = null;
  if (ctx.imageStep) {
    const step = ctx.imageStep;
    const tag = ctx.tagFor(req.function, req.version);
    const spec: ImageSpec = { function: req.function, version: req.version, runtime, handler, baseImage: ctx.baseImages[runtime], tag };
    await phase(ctx, 'image', () => step.build(codeDir, spec, (l) => ctx.log.line('image', l), ctx.signal));
    await phase(ctx, 'push', async () => {
      digest = await step.push(tag, (l) => ctx.log.line('push', l), ctx.signal);
      ctx.log.line('push', `pushed ${tag}${digest ? ` (${digest})` : ''}`);
    });
    image = tag;
  }

  await fsp.rm(ctx.artifactDir, { recursive: true, force: true });
  await fsp.mkdir(path.dirname(ctx.artifactDir), { recursive: true });
  await fsp.rename(codeDir, ctx.artifactDir);

  // After the push, so that a backend that pulls from the registry (Kubernetes) finds the image. After the
  // tree became the artifact, because the version is started as it will run — from the artifact (process
  // backend, stems) — and its instance stays warm for the rollout. The version is not ready yet, so nothing
  // else runs it meanwhile; one that cannot load leaves no artifact behind.
  const check = ctx.loadCheck;
  if (check) {
    const target = { function: req.function, version: req.version, config: req.config, image, artifactDir: ctx.artifactDir, handler };
    await phase(ctx, 'load', () => checkLoad(check, target, (l) => ctx.log.line('load', l), ctx.signal)).catch(async (err: unknown) => {
      await fsp.rm(ctx.artifactDir, { recursive: true, force: true });
      throw err;
    });
  }
  return { image, digest, artifactDir: ctx.artifactDir, handler };
}

async function phase<T>(ctx: JobContext, name: BuildPhase, work: () => Promise<T>): Promise<T> {
  ctx.signal.throwIfAborted();
  await ctx.onPhase(name);
  const start = ctx.clock.now();
  try {
    return await work();
  } finally {
    ctx.onPhaseDone(name, ctx.clock.now() - start);
  }
}

const formatBytes = (n: number) => (n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`);

/** Whatever the archive or the install left: code readable by the function's user, writable by no one else. */
async function normalizeModes(dir: string): Promise<void> {
  await fsp.chmod(dir, 0o755);
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) {
      await normalizeModes(abs);
    } else if (e.isFile()) {
      const st = await fsp.stat(abs);
      await fsp.chmod(abs, st.mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

/**
 * What a tree may hold after its dependency install: the upload's limits, raised to what real dependency
 * trees reach (a node_modules of a few frameworks passes 20,000 files and 500 MB). The check is about links
 * and special files; the size bounds only keep a runaway install from filling the disk.
 */
export function installedTreeLimits(upload: TreeLimits): TreeLimits {
  return { maxEntries: Math.max(upload.maxEntries, 200_000), maxUnpackedBytes: Math.max(upload.maxUnpackedBytes, 4 * 1024 ** 3) };
}
