// Per-instance host directories: where an instance's unix socket lives (so Stratus reaches it without
// NAT or a published port) and where a stem's code is staged. Layout of <runDir>/<instanceId>/:
//   sock/runtime.sock   the runtime's socket; sock/ is a capped tmpfs, sealed once the socket exists (socket-dir.ts)
//   code/               hard links to a version's artifact (staged into a stem)

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareSocketDir, releaseSocketDir, SOCKET_NAME } from './socket-dir.js';

/** sun_path is 108 bytes on Linux including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH = 107;
export const SOCKET_TAIL = path.join('sock', SOCKET_NAME);
/** Instance ids longer than this may not fit a socket path; the run dir is chosen to fit this length. */
export const ASSUMED_MAX_ID_LENGTH = 48;

/**
 * The preferred run dir when a socket path under it fits sun_path, else a short, stable directory under
 * the system temp dir (derived from the preferred path, so a restart finds its instances again).
 */
export function chooseRunDir(preferred: string, tail = SOCKET_TAIL): string {
  const abs = path.resolve(preferred);
  if (Buffer.byteLength(path.join(abs, 'x'.repeat(ASSUMED_MAX_ID_LENGTH), tail)) <= MAX_UNIX_SOCKET_PATH) return abs;
  const hash = createHash('sha256').update(abs).digest('hex').slice(0, 10);
  return path.join(os.tmpdir(), `stratus-${hash}`);
}

export function instanceDir(runDir: string, instanceId: string): string {
  return path.join(runDir, instanceId);
}

export function socketPathFor(runDir: string, instanceId: string, tail = SOCKET_TAIL): string {
  return path.join(instanceDir(runDir, instanceId), tail);
}

/** Ids reach paths and container names: keep them to a safe alphabet. */
export function assertSafeInstanceId(instanceId: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(instanceId)) {
    throw new Error(`instance id ${JSON.stringify(instanceId)} must match [A-Za-z0-9][A-Za-z0-9_.-]*`);
  }
}

export function assertSocketPathFits(socketPath: string): void {
  if (Buffer.byteLength(socketPath) > MAX_UNIX_SOCKET_PATH) {
    throw new Error(`socket path ${socketPath} exceeds ${MAX_UNIX_SOCKET_PATH} bytes; use a shorter instance id or state dir`);
  }
}

/**
 * Creates <runDir>/<id>/ and its sock/ dir, prepared for the runtime's bind (socket-dir.ts: a capped tmpfs
 * owned by the function uid when Stratus is root; otherwise a directory the function can write). sock/ is
 * sealed once the socket exists; `capped` tells whether the function's writes there are bounded.
 */
export async function createInstanceDir(
  runDir: string,
  instanceId: string,
  owner: { uid: number; gid: number } | null,
): Promise<{ dir: string; sockDir: string; capped: boolean }> {
  assertSafeInstanceId(instanceId);
  const dir = instanceDir(runDir, instanceId);
  const sockDir = path.join(dir, 'sock');
  await fs.mkdir(runDir, { recursive: true, mode: 0o755 });
  await fs.mkdir(dir, { mode: 0o755 });
  await fs.mkdir(sockDir, { mode: 0o700 });
  try {
    const { capped } = await prepareSocketDir(sockDir, owner);
    return { dir, sockDir, capped };
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export async function removeInstanceDir(runDir: string, instanceId: string): Promise<void> {
  assertSafeInstanceId(instanceId);
  const dir = instanceDir(runDir, instanceId);
  // Unmount first: rm would empty the tmpfs and then fail on the mount point itself.
  await releaseSocketDir(path.join(dir, 'sock'));
  await fs.rm(dir, { recursive: true, force: true });
}

/**
 * Removes (and unmounts) the instance dirs under runDir that belong to no instance in `keep`, skipping any
 * younger than `minAgeMs` so that an instance being created right now is never touched.
 */
export async function sweepOrphanInstanceDirs(runDir: string, keep: ReadonlySet<string>, minAgeMs: number, onError: (dir: string, err: unknown) => void): Promise<void> {
  const entries = await fs.readdir(runDir, { withFileTypes: true }).catch(() => []);
  const oldEnough = Date.now() - minAgeMs;
  for (const e of entries) {
    if (!e.isDirectory() || keep.has(e.name)) continue;
    const st = await fs.stat(path.join(runDir, e.name)).catch(() => null);
    if (!st || st.mtimeMs > oldEnough) continue;
    await removeInstanceDir(runDir, e.name).catch((err: unknown) => onError(e.name, err));
  }
}

/**
 * Mirrors a tree with hard links (cheap even for a big node_modules: no data is copied), copying files
 * where linking is impossible (another filesystem, or protected_hardlinks for files Stratus doesn't own).
 * Symlinks are recreated as they are; they resolve inside the instance, like the artifact's own.
 */
export async function linkTree(src: string, dest: string): Promise<void> {
  await fs.mkdir(dest, { mode: 0o755 });
  const entries = await fs.readdir(src, { withFileTypes: true });
  await Promise.all(
    entries.map(async (e) => {
      const from = path.join(src, e.name);
      const to = path.join(dest, e.name);
      if (e.isDirectory()) return linkTree(from, to);
      if (e.isSymbolicLink()) return fs.symlink(await fs.readlink(from), to);
      if (!e.isFile()) return; // sockets, fifos, devices have no place in an artifact
      try {
        await fs.link(from, to);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
        await fs.copyFile(from, to);
      }
    }),
  );
}
