// createBuilder(deps): wires the build service from its parts. With Docker, installs run in throwaway
// runtime containers and versions get an image pushed to the registry; without (process backend),
// installs run on the host and the artifact directory is the whole result.

import type Docker from 'dockerode';
import type { Config } from '../core/config.js';
import { systemClock, type Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { Store } from '../core/store/store.js';
import type { Builder } from './builder.js';
import type { ImageStep } from './build-job.js';
import { BuildService, type BuildServiceOptions } from './build-service.js';
import { BullBuildService } from './build-service-bull.js';
import type { ArtifactStore } from '../core/ports/artifact-store.js';
import { CheckStage } from './checks.js';
import { ContainerCheckSandbox, HostCheckSandbox, type CheckSandbox } from './checks-sandbox.js';
import { buildImage, imageRepository, imageTag, pushImage } from './image.js';
import { ContainerInstallRunner, type InstallRunner } from './install.js';
import { HostInstallRunner } from './install-host.js';
import type { LoadCheck } from '../core/ports/load-check.js';
import type { Notifier } from '../core/ports/notifier.js';
import type { InstallSandboxSettings } from './install-sandbox.js';
import { ImageRetention } from './image-retention.js';
import { Purger } from './purge.js';
import { RegistryClient } from './registry.js';

export type { Builder } from './builder.js';

export interface BuilderDeps {
  store: Store;
  /** Null when running without Docker (process backend): no install containers, no images. */
  docker: Docker | null;
  build: Config['build'];
  images: Config['images'];
  stateDir: string;
  logger: Logger;
  clock?: Clock;
  /**
   * Starts each built version once before it may become ready (the platform's Scheduler, whose probe keeps
   * the instance warm; wired in platform/start-platform.ts). Absent: no check.
   */
  loadCheck?: LoadCheck | null;
  /** Told when a build fails (services/notify/, wired in platform/start-platform.ts). Absent: nobody is. */
  notifier?: Notifier;
  /** Rolls a built version out (control/releases/, wired in platform/start-platform.ts). Absent: current at once. */
  promote?: (fn: string, version: number) => Promise<string>;
  /** Who installs run as and what they get (the function uid, the host's PATH, proxy/registry settings); defaults: uid 10001, a standard PATH, nothing passed. */
  installSandbox?: Partial<InstallSandboxSettings>;
  /**
   * Where lint and tests run (checks-sandbox.ts): default a container of the checks image with Docker,
   * the host's tools without; null: no check stage.
   */
  checkSandbox?: CheckSandbox | null;
  /**
   * Builds shared by the replicas on one Redis (build-service-bull.ts): the queue's connection, where uploads
   * wait, and whether this replica runs builds. Absent or null: the in-process queue (the in-memory store).
   */
  queue?: { redisUrl: string; prefix: string; artifacts: ArtifactStore; takesBuilds: boolean } | null;
  /** Test seams: replace how dependencies are installed or images built. */
  installRunner?: InstallRunner;
  imageStep?: ImageStep | null;
}

export function dockerImageStep(docker: Docker): ImageStep {
  return {
    hasBase: (image) => docker.getImage(image).inspect().then(() => true, () => false),
    build: (codeDir, spec, log, signal) => buildImage(docker, codeDir, spec, log, signal),
    push: (tag, log, signal) => pushImage(docker, tag, log, signal),
  };
}

type PurgerDeps = Pick<BuilderDeps, 'docker' | 'images' | 'stateDir' | 'logger'>;

/** What removes images (a deleted function's, an old version's): the registry and local images with Docker. */
function createPurger({ docker, images, stateDir, logger }: PurgerDeps): Purger {
  return new Purger({
    docker,
    registry: docker ? new RegistryClient(images.registry) : null,
    repositoryPath: (fn) => `${images.prefix}/${fn}`,
    repository: (fn) => imageRepository(images, fn),
    stateDir,
    logger,
  });
}

/** Old versions' images beyond images.kept per function, deleted after each build and by POST /v1/admin/gc. */
export function createImageRetention(deps: PurgerDeps & { store: Store; clock: Clock }): ImageRetention {
  const logger = deps.logger.child({ component: 'image-retention' });
  return new ImageRetention({
    store: deps.store, purger: createPurger({ ...deps, logger }), repository: (fn) => imageRepository(deps.images, fn), kept: deps.images.kept, clock: deps.clock, logger,
  });
}

export function createBuilder(deps: BuilderDeps): Builder {
  const { docker, images, build } = deps;
  const logger = deps.logger.child({ component: 'builder' });
  const sandbox = deps.installSandbox;
  const runner =
    deps.installRunner ??
    (docker ? new ContainerInstallRunner(docker, { images: images.runtime, caFile: build.caFile, sandbox }) : new HostInstallRunner({ caFile: build.caFile, sandbox }));
  const imageStep = deps.imageStep !== undefined ? deps.imageStep : docker ? dockerImageStep(docker) : null;
  // A builder whose install is replaced (a test seam) builds stand-in trees that no linter could pass:
  // it gets a check stage only when it is given a sandbox for one too.
  const checkSandbox =
    deps.checkSandbox !== undefined ? deps.checkSandbox : deps.installRunner ? null : docker ? new ContainerCheckSandbox(docker, { sandbox }) : new HostCheckSandbox({ sandbox });
  const purger = createPurger({ docker, images, stateDir: deps.stateDir, logger });
  const options: BuildServiceOptions = {
    store: deps.store,
    stateDir: deps.stateDir,
    concurrency: build.concurrency,
    timeoutMs: build.timeoutMs,
    limits: { maxEntries: build.maxEntries, maxUnpackedBytes: build.maxUnpackedBytes, maxCompressionRatio: build.maxCompressionRatio },
    runner,
    imageStep,
    loadCheck: deps.loadCheck ?? null,
    checks: checkSandbox ? new CheckStage(checkSandbox) : null,
    promote: deps.promote,
    baseImages: images.runtime,
    tagFor: (fn, version) => imageTag(images, fn, version),
    purger,
    logger,
    clock: deps.clock ?? systemClock,
    notifier: deps.notifier,
  };
  const queue = deps.queue;
  return queue ? new BullBuildService({ ...options, ...queue, maxUploadBytes: build.maxUploadBytes }) : new BuildService(options);
}
