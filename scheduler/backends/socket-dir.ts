// The host side of an instance's unix socket, treated as hostile: the function owns the process that
// binds it, so everything in sock/ is the function's to forge — a symlink to /var/run/docker.sock, a
// socket of its own, a file that fills the disk. Three defences, in the order an instance lives:
//
//   1. cap:   sock/ is a tiny tmpfs of its own (mounted by Stratus when it runs as root), so whatever the
//             function writes there before step 2 is bounded and never reaches the host's disk;
//   2. seal:  once runtime.sock exists, sock/ is handed to root (or to Stratus's own uid) with mode 0755, so
//             the function can no longer create, rename or remove entries: the path is frozen;
//   3. pin:   the sealed entry must be a socket owned by the function uid; its device and inode are kept,
//             and every new connection re-checks them (pinnedAgent) before it dials.
//
// Nothing connects to the socket before it is sealed and verified: readiness probes wait for the seal.

import { execFile } from 'node:child_process';
import { lstatSync, promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export const SOCKET_NAME = 'runtime.sock';
/** A socket needs no bytes; the cap only has to leave room for the runtime's own bind. */
export const SOCKET_DIR_CAP = { bytes: 256 * 1024, inodes: 64 } as const;

/** Where a socket was found sealed: what every later connection must still find there. */
export interface SocketPin {
  dev: number;
  ino: number;
}

/** The socket entry is not what the runtime would have bound: the function tampered with it. */
export class UntrustedSocketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UntrustedSocketError';
  }
}

const isRoot = () => process.getuid?.() === 0;

/**
 * Makes sock/ ready for the runtime to bind in: with root, a capped tmpfs owned by the function uid;
 * without root (no mount), a plain directory the function can write (chown, or 0777 when not even that
 * is allowed). Returns whether writes are capped.
 */
export async function prepareSocketDir(sockDir: string, owner: { uid: number; gid: number } | null): Promise<{ capped: boolean }> {
  if (owner && isRoot()) {
    const o = `size=${SOCKET_DIR_CAP.bytes},nr_inodes=${SOCKET_DIR_CAP.inodes},mode=0700,uid=${owner.uid},gid=${owner.gid},nosuid,nodev,noexec`;
    await exec('mount', ['-t', 'tmpfs', '-o', o, 'stratus-sock', sockDir]);
    return { capped: true };
  }
  if (!owner) return { capped: false };
  try {
    await fs.chown(sockDir, owner.uid, owner.gid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    await fs.chmod(sockDir, 0o777);
  }
  return { capped: false };
}

/** True when sockDir is a mount point (its device differs from its parent's). */
async function isMountPoint(dir: string): Promise<boolean> {
  try {
    const [self, parent] = await Promise.all([fs.lstat(dir), fs.lstat(path.dirname(dir))]);
    return self.dev !== parent.dev;
  } catch {
    return false;
  }
}

/** Undoes prepareSocketDir's mount (lazily: a container that still holds it keeps its own view). */
export async function releaseSocketDir(sockDir: string): Promise<void> {
  if (!(await isMountPoint(sockDir))) return;
  await exec('umount', ['-l', sockDir]);
}

/**
 * Freezes sock/ and checks the socket in it. Returns null while runtime.sock does not exist yet (the
 * runtime has not bound); throws UntrustedSocketError when the entry is anything but a socket of the
 * function uid. Idempotent: an adopted instance is sealed again after a restart.
 */
export async function sealSocketDir(sockDir: string, functionUid: number | null): Promise<SocketPin | null> {
  const socketPath = path.join(sockDir, SOCKET_NAME);
  try {
    await fs.lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  // Seal before the verdict: checked after the seal, the entry can no longer be swapped behind us. The
  // dir stays traversable throughout (the runtime may still be chmod-ing its fresh socket): 0755 first,
  // then root's, then 0755 again — now that only root can change it, whatever the function did between.
  await fs.chmod(sockDir, 0o755);
  if (isRoot()) {
    await fs.chown(sockDir, 0, 0);
    await fs.chmod(sockDir, 0o755);
  }
  return verifySocket(socketPath, functionUid);
}

/** The sealed entry must be a socket (not a symlink, file or fifo) of the function uid, linked once. */
export function verifySocket(socketPath: string, functionUid: number | null): SocketPin {
  const st = lstatSync(socketPath);
  if (st.isSymbolicLink()) throw new UntrustedSocketError(`${SOCKET_NAME} was replaced by a symbolic link`);
  if (!st.isSocket()) throw new UntrustedSocketError(`${SOCKET_NAME} is not a socket`);
  if (functionUid !== null && st.uid !== functionUid) {
    throw new UntrustedSocketError(`${SOCKET_NAME} is owned by uid ${st.uid}, not the function's uid ${functionUid}`);
  }
  if (st.nlink !== 1) throw new UntrustedSocketError(`${SOCKET_NAME} has ${st.nlink} links`);
  return { dev: st.dev, ino: st.ino };
}

/**
 * A keep-alive agent that dials a unix socket only while the entry at its path is still the pinned
 * socket. The seal makes a change impossible for the function; this check is what keeps a bug or
 * another host process from turning the gateway toward some other socket unnoticed.
 */
export class PinnedSocketAgent extends http.Agent {
  constructor(
    private readonly socketPath: string,
    private readonly pin: SocketPin,
    opts: http.AgentOptions,
  ) {
    super(opts);
  }

  override createConnection(options: net.NetConnectOpts, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    let st;
    try {
      st = lstatSync(this.socketPath);
    } catch (err) {
      callback?.(err as Error, undefined as unknown as Duplex);
      return undefined;
    }
    if (!st.isSocket() || st.dev !== this.pin.dev || st.ino !== this.pin.ino) {
      callback?.(new UntrustedSocketError(`${this.socketPath} is no longer the socket the instance bound`), undefined as unknown as Duplex);
      return undefined;
    }
    return net.createConnection(options);
  }
}
