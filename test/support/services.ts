// Which real services a test suite needs. Outside CI a missing service skips the suite (so `npm test`
// works on a laptop without Docker); with CI=true a missing service throws, failing the run, because
// CI must exercise real Docker, Redis and the registry.

import http from 'node:http';
import net from 'node:net';

export const isCI = process.env.CI === 'true' || process.env.CI === '1';

export type Service = 'docker' | 'redis' | 'registry' | 'runtime-images';

export const DOCKER_SOCKET = process.env.STRATUS_DOCKER_SOCKET ?? '/var/run/docker.sock';
export const REDIS_URL = process.env.STRATUS_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const REGISTRY = process.env.STRATUS_REGISTRY ?? '127.0.0.1:5000';
export const RUNTIME_IMAGES = {
  node: process.env.STRATUS_RUNTIME_IMAGE_NODE ?? 'stratus/runtime-node:latest',
  python: process.env.STRATUS_RUNTIME_IMAGE_PYTHON ?? 'stratus/runtime-python:latest',
};
const CHECK_IMAGES = { node: 'stratus/checks-node:latest', python: 'stratus/checks-python:latest' };

function httpGet(opts: http.RequestOptions): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ ...opts, timeout: 10_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 5000 }, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.on('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

// A loaded machine (parallel builds, many containers) can answer slowly: one retry before calling a
// service missing, so that CI fails only when it really is absent.
async function available(service: Service): Promise<boolean> {
  return (await probe(service)) || (await probe(service));
}

async function probe(service: Service): Promise<boolean> {
  switch (service) {
    case 'docker':
      return (await httpGet({ socketPath: DOCKER_SOCKET, path: '/_ping' })) === 200;
    case 'redis': {
      const u = new URL(REDIS_URL);
      return tcpOpen(u.hostname, Number(u.port || 6379));
    }
    case 'registry': {
      const [host, port] = REGISTRY.split(':');
      return (await httpGet({ host, port: Number(port ?? 5000), path: '/v2/' })) === 200;
    }
    case 'runtime-images': {
      // The checks images come with them (build-runtime-images.sh): every Docker build runs its checks there.
      for (const image of [...Object.values(RUNTIME_IMAGES), ...Object.values(CHECK_IMAGES)]) {
        const status = await httpGet({ socketPath: DOCKER_SOCKET, path: `/images/${encodeURIComponent(image)}/json` });
        if (status !== 200) return false;
      }
      return true;
    }
  }
}

/**
 * Returns true when the suite must be skipped (a service is missing, outside CI).
 * Throws in CI when a service is missing. Use: describe.skipIf(await missing('docker', 'redis'))(...)
 */
export async function missing(...services: Service[]): Promise<boolean> {
  const absent: Service[] = [];
  for (const s of services) if (!(await available(s))) absent.push(s);
  if (absent.length === 0) return false;
  const msg = `needed services not reachable: ${absent.join(', ')} (start them with: bash scripts/services.sh && bash scripts/build-runtime-images.sh)`;
  if (isCI) throw new Error(`CI=true: ${msg}`);
  console.warn(`skipping: ${msg}`);
  return true;
}
