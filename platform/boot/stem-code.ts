// Code over HTTP for stems (scheduler/code/, gateway/dataplane/code-route.ts), wired for this machine: the
// archives of ready versions (packed from the local artifact dir, else read from the ArtifactStore when one
// is given), the signing key derived from the admin key, the code route, and URL issuers for the backends.
// On Docker with STRATUS_STEM_CODE=http the route is also served on a unix socket in a dir every stem
// mounts read-only: a container reaches Stratus there with no network address at all.

import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { codeUrlKey } from '../../core/code-url.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { ArtifactStore } from '../../core/ports/artifact-store.js';
import type { Store } from '../../core/store/store.js';
import { CODE_SOCKET_NAME } from '../../scheduler/backends/docker-spec.js';
import { chooseRunDir } from '../../scheduler/backends/instance-dir.js';
import { CodeArchives } from '../../scheduler/code/code-archives.js';
import { SignedCodeUrls, type CodeUrlIssuer } from '../../scheduler/code/code-urls.js';
import { createCodeRoute } from '../../gateway/dataplane/code-route.js';

/** How long a code URL stays valid: a stem fetches at once; this only has to cover a busy moment. */
const CODE_URL_TTL_MS = 15_000;
/** The host name in Docker stems' code URLs: they connect through the socket, the name is only a label. */
export const CODE_SOCKET_HOST = 'http://stratus.code';

export interface StemCode {
  route: http.RequestListener;
  /** Signed URLs under `baseUrl` (where instances reach the route). */
  urls(baseUrl: string): CodeUrlIssuer;
}

export function stemCode(o: { store: Store; apiKey: string; artifacts: ArtifactStore | null; clock: Clock; logger: Logger }): StemCode {
  const key = codeUrlKey(o.apiKey);
  const archives = new CodeArchives({
    store: o.artifacts,
    logger: o.logger,
    lookup: async (fn, version) => {
      const v = await o.store.getVersion(fn, version);
      // Building too: a build's load check starts the version (through a stem, too) before it is ready. The URL's
      // signature is the authorisation; a failed version's tree is gone.
      if (!v || v.status === 'failed') return null;
      // The build id tells a version apart from one of the same number of a deleted and re-created function.
      return { artifactDir: v.artifactDir, tag: v.buildId ?? v.createdAt };
    },
  });
  return {
    route: createCodeRoute({ key, archives, clock: o.clock, logger: o.logger }),
    urls: (baseUrl) => new SignedCodeUrls({ key, baseUrl, archives, clock: o.clock, ttlMs: CODE_URL_TTL_MS }),
  };
}

/** Serves the code route on <dir>/code.sock (dir: a short one when the state dir's would not fit a socket path). */
export async function listenOnCodeSocket(route: http.RequestListener, preferredDir: string, logger: Logger): Promise<{ socketDir: string; close(): Promise<void> }> {
  const socketDir = chooseRunDir(preferredDir, CODE_SOCKET_NAME);
  const socketPath = path.join(socketDir, CODE_SOCKET_NAME);
  await fs.mkdir(socketDir, { recursive: true, mode: 0o755 });
  await fs.chmod(socketDir, 0o755);
  await fs.rm(socketPath, { force: true }); // a stale socket of an earlier run
  const server = http.createServer(route);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  // Connecting needs write permission on the socket; the function uid is not Stratus's.
  await fs.chmod(socketPath, 0o666);
  logger.info('stems fetch their code through a unix socket', { socket: socketPath });
  return {
    socketDir,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fs.rm(socketPath, { force: true });
    },
  };
}
