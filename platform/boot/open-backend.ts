// Chooses the container Backend: Docker when its socket answers. When it does not, the process backend
// only if Docker is absent — no socket file at STRATUS_DOCKER_SOCKET, not asked for (STRATUS_BACKEND=
// docker) and never used by this state dir — announced loudly because child processes are not isolated
// like containers and installs then run on the host. Otherwise start-up waits for Docker
// (service-wait.ts): a Docker slow to answer must not put functions on the host. Kubernetes only when
// asked for (STRATUS_BACKEND=kubernetes), and then never with a fallback.

import Docker from 'dockerode';
import type { Config } from '../../core/config.js';
import type { Logger } from '../../core/log.js';
import { StateLayout } from '../../core/state-layout.js';
import type { Backend } from '../../scheduler/backends/backend.js';
import { DockerBackend } from '../../scheduler/backends/docker.js';
import { ProcessBackend } from '../../scheduler/backends/process.js';
import { openKubernetesBackend } from './open-kubernetes.js';
import { CODE_SOCKET_HOST, listenOnCodeSocket, type StemCode } from './stem-code.js';
import { exists, markUsed, usedBefore, waitForService, type BootOptions } from './service-wait.js';

export interface OpenedBackend {
  backend: Backend;
  /** The Docker client when the backend is Docker: the builder packs images with it. */
  docker: Docker | null;
  /** The unix socket Docker stems fetch their code through (STRATUS_STEM_CODE=http): closed at shutdown. */
  codeSocket?: { close(): Promise<void> } | null;
}

/** One ping; a Docker that takes longer than PING_TIMEOUT_MS is asked again by the wait loop. */
const PING_TIMEOUT_MS = 2000;

/**
 * A client of its own with a request timeout, so that a socket that accepts but never answers leaves no
 * request hanging per attempt (the platform's client has none: its event and log streams idle for long).
 */
async function dockerAnswers(socketPath: string): Promise<boolean> {
  const probe = new Docker({ socketPath, timeout: PING_TIMEOUT_MS });
  return probe.ping().then(() => true, () => false);
}

/** Why Docker is meant to be used here although it does not answer, or null when it is absent. */
async function whyDockerIsMeant(config: Config): Promise<string | null> {
  const socket = config.backend.dockerSocket;
  if (config.backend.kind === 'docker') return 'STRATUS_BACKEND=docker';
  if (await exists(socket)) return `its socket ${socket} exists`;
  const marker = await usedBefore(config.stateDir, 'docker');
  if (marker) return `this state dir used Docker before (${marker})`;
  return null;
}

/**
 * On a cluster: the Docker engine that builds images, when its socket is there (waited for then, as on the
 * Docker backend: a socket that exists is meant to be used); null when there is none.
 */
async function openBuildDocker(config: Config, logger: Logger, opts: BootOptions): Promise<Docker | null> {
  const socket = config.backend.dockerSocket;
  if (!(await exists(socket))) {
    logger.info(`no Docker engine (no socket at ${socket}): this replica builds no images; builds wait for a build worker (a replica with STRATUS_DOCKER_SOCKET)`);
    return null;
  }
  if (!(await dockerAnswers(socket))) {
    await waitForService({
      ...opts,
      what: `Docker on ${socket}`,
      why: `its socket exists, so this replica is meant to build images. Start Docker, or unset STRATUS_DOCKER_SOCKET (and mount no socket there) for a replica that builds none.`,
      attempt: () => dockerAnswers(socket),
      maxWaitMs: config.serviceWaitMs,
      field: 'STRATUS_DOCKER_SOCKET',
      logger,
    });
  }
  logger.info(`build worker: Docker on ${socket} builds function images and pushes them to ${config.images.registry}, where the cluster pulls them`);
  return new Docker({ socketPath: socket });
}

/** `code`: code over HTTP for stems; absent, Kubernetes keeps no stems and Docker stems get hard links. */
export async function openBackend(config: Config, platformId: string, logger: Logger, opts: BootOptions = {}, code?: StemCode): Promise<OpenedBackend> {
  const cfg = config.backend;
  const processBackend = () =>
    new ProcessBackend({
      runDir: new StateLayout(config.stateDir).runDir,
      baseEnv: cfg.processBaseEnv,
      startTimeoutMs: cfg.startTimeoutMs,
      logger: logger.child({ component: 'process-backend' }),
    });
  if (cfg.kind === 'process') {
    logger.warn('BACKEND: process (STRATUS_BACKEND=process): functions run as child processes on this host, without container isolation');
    return { backend: processBackend(), docker: null };
  }
  if (cfg.kind === 'kubernetes') {
    // Functions run as pods, which pull their images from the registry. A replica with a Docker engine
    // (its socket mounted, or a Docker-in-Docker sidecar's) is a build worker: it builds and pushes those
    // images. One without (the gateway pods) has no Docker client: it queues builds for a worker.
    const codeUrls = code && cfg.internalUrl ? code.urls(cfg.internalUrl) : undefined;
    if (!codeUrls) logger.warn('no stems on Kubernetes: set STRATUS_INTERNAL_URL (where pods reach Stratus, e.g. the gateway Service) so that stem pods can fetch their code; until then each cold start is a pod start');
    const backend = await openKubernetesBackend(config, platformId, logger, undefined, codeUrls);
    return { backend, docker: await openBuildDocker(config, logger, opts) };
  }
  if (!(await dockerAnswers(cfg.dockerSocket))) {
    const meant = await whyDockerIsMeant(config);
    if (meant === null) {
      logger.warn(
        `*** FALLBACK: Docker is not installed here (no socket at ${cfg.dockerSocket}) — using the PROCESS backend. Functions ` +
          'and their dependency installs run as child processes on this host WITHOUT container isolation, and no images are ' +
          'built or pushed. Run `bash scripts/services.sh && bash scripts/build-runtime-images.sh` for the Docker path. ***',
      );
      return { backend: processBackend(), docker: null };
    }
    const instead = cfg.kind === 'auto' ? ', or set STRATUS_BACKEND=process to run functions as processes on this host' : '';
    await waitForService({
      ...opts,
      what: `Docker on ${cfg.dockerSocket}`,
      why: `Stratus does not fall back to running functions on the host because ${meant}. Start Docker (bash scripts/services.sh) or set STRATUS_DOCKER_SOCKET${instead}.`,
      attempt: () => dockerAnswers(cfg.dockerSocket),
      maxWaitMs: config.serviceWaitMs,
      field: 'STRATUS_DOCKER_SOCKET',
      logger,
    });
  }
  await markUsed(config.stateDir, 'docker', cfg.dockerSocket);
  logger.info('backend: Docker', { socket: cfg.dockerSocket });
  const docker = new Docker({ socketPath: cfg.dockerSocket });
  const layout = new StateLayout(config.stateDir);
  const codeSocket = code && cfg.stemCode === 'http' ? await listenOnCodeSocket(code.route, `${layout.runDir}-code`, logger) : null;
  const backend = new DockerBackend({
    docker,
    runDir: layout.runDir,
    platformId,
    functionUid: cfg.functionUid,
    pidsLimit: cfg.pidsLimit,
    cpuShares: cfg.cpuShares,
    startTimeoutMs: cfg.startTimeoutMs,
    ...(codeSocket && code ? { codeOverHttp: { urls: code.urls(CODE_SOCKET_HOST), socketDir: codeSocket.socketDir } } : {}),
    logger: logger.child({ component: 'docker-backend' }),
  });
  return { backend, docker, codeSocket };
}
