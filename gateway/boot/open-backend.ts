// Chooses the container Backend: Docker when its socket answers (or when required), else the process
// backend, announced loudly because child processes are not isolated like containers. Kubernetes only
// when asked for (STRATUS_BACKEND=kubernetes), and then never with a fallback.

import path from 'node:path';
import Docker from 'dockerode';
import type { Config } from '../../core/config.js';
import { StratusError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Backend } from '../../scheduler/backends/backend.js';
import { DockerBackend } from '../../scheduler/backends/docker.js';
import { ProcessBackend } from '../../scheduler/backends/process.js';
import { openKubernetesBackend } from './open-kubernetes.js';

export interface OpenedBackend {
  backend: Backend;
  /** The Docker client when the backend is Docker: the builder packs images with it. */
  docker: Docker | null;
}

async function dockerAnswers(docker: Docker): Promise<boolean> {
  try {
    await Promise.race([docker.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref())]);
    return true;
  } catch {
    return false;
  }
}

export async function openBackend(config: Config, platformId: string, logger: Logger): Promise<OpenedBackend> {
  const cfg = config.backend;
  const processBackend = () =>
    new ProcessBackend({
      runDir: path.join(config.stateDir, 'run'),
      baseEnv: cfg.processBaseEnv,
      startTimeoutMs: cfg.startTimeoutMs,
      logger: logger.child({ component: 'process-backend' }),
    });
  if (cfg.kind === 'process') {
    logger.warn('BACKEND: process (STRATUS_BACKEND=process): functions run as child processes on this host, without container isolation');
    return { backend: processBackend(), docker: null };
  }
  if (cfg.kind === 'kubernetes') {
    // No Docker client: images are built elsewhere and pulled by the cluster from the registry.
    return { backend: await openKubernetesBackend(config, platformId, logger), docker: null };
  }
  const docker = new Docker({ socketPath: cfg.dockerSocket });
  if (await dockerAnswers(docker)) {
    logger.info('backend: Docker', { socket: cfg.dockerSocket });
    const backend = new DockerBackend({
      docker,
      runDir: path.join(config.stateDir, 'run'),
      platformId,
      functionUid: cfg.functionUid,
      pidsLimit: cfg.pidsLimit,
      cpuShares: cfg.cpuShares,
      startTimeoutMs: cfg.startTimeoutMs,
      logger: logger.child({ component: 'docker-backend' }),
    });
    return { backend, docker };
  }
  if (cfg.kind === 'docker') {
    throw new StratusError('INVALID_CONFIG', `Docker does not answer on ${cfg.dockerSocket} and STRATUS_BACKEND=docker; start it (bash scripts/services.sh) or set STRATUS_DOCKER_SOCKET`, { field: 'STRATUS_DOCKER_SOCKET' });
  }
  logger.warn(
    `*** FALLBACK: Docker does not answer on ${cfg.dockerSocket} — using the PROCESS backend. Functions run as child ` +
      'processes on this host WITHOUT container isolation, and no images are built or pushed. ' +
      'Run `bash scripts/services.sh && bash scripts/build-runtime-images.sh` for the Docker path. ***',
  );
  return { backend: processBackend(), docker: null };
}
