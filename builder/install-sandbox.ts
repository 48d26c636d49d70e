// What a dependency install runs as and with: an install runs the uploader's lifecycle scripts
// (npm postinstall, setup.py), so it gets an unprivileged uid, the code dir for the install only, and
// an environment built from nothing — HOME, PATH, the CA and the machine's proxy/registry settings.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/** The uid STRATUS_FUNCTION_UID defaults to: not a real user on most hosts, and the runtime images name it. */
export const DEFAULT_INSTALL_UID = 10001;
export const DEFAULT_INSTALL_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** How installs are confined; wired from the config (function uid, the host's PATH, proxy/registry settings). */
export interface InstallSandboxSettings {
  /** uid (and gid) installs run as when the platform is root. */
  uid: number;
  /** PATH of host installs (no Docker): where npm, node and python3 are found. */
  hostPath: string;
  /** The machine's proxy and npm/pip registry settings, passed to installs as they are; nothing else is. */
  passEnv: Record<string, string>;
}

export function sandboxSettings(partial: Partial<InstallSandboxSettings> = {}): InstallSandboxSettings {
  return { uid: partial.uid ?? DEFAULT_INSTALL_UID, hostPath: partial.hostPath ?? DEFAULT_INSTALL_PATH, passEnv: partial.passEnv ?? {} };
}

export interface InstallIdentity {
  uid: number;
  gid: number;
  /** The platform's own ids: what the tree is handed back to. */
  platformUid: number;
  platformGid: number;
  /** True when the platform is root and installs run as `uid`; false: the platform is itself unprivileged and installs run as it (it cannot give files away). */
  drops: boolean;
}

export function installIdentity(uid: number): InstallIdentity {
  const platformUid = process.getuid?.() ?? 0;
  const platformGid = process.getgid?.() ?? 0;
  const drops = platformUid === 0;
  return drops ? { uid, gid: uid, platformUid, platformGid, drops } : { uid: platformUid, gid: platformGid, platformUid, platformGid, drops };
}

/** The whole environment of an install: built from nothing, never from the platform's own. */
export function installEnv(o: { path: string; home: string; tmp?: string; caFile?: string; passEnv: Record<string, string> }): Record<string, string> {
  return {
    ...o.passEnv,
    PATH: o.path,
    HOME: o.home,
    ...(o.tmp ? { TMPDIR: o.tmp } : {}),
    npm_config_update_notifier: 'false',
    // Debian's pip refuses to install next to the system's packages; --target keeps them apart anyway.
    PIP_BREAK_SYSTEM_PACKAGES: '1',
    ...(o.caFile ? { NODE_EXTRA_CA_CERTS: o.caFile, PIP_CERT: o.caFile, npm_config_cafile: o.caFile } : {}),
  };
}

/**
 * Hands a tree to another owner without following links. Giving it to the install: leaves first,
 * so every folder is still ours while we work below it (the install's uid cannot swap a folder for a
 * link under our feet). Taking it back: root first, for the same reason in the other direction.
 */
export async function chownTree(root: string, uid: number, gid: number, order: 'leaves-first' | 'root-first'): Promise<void> {
  if (order === 'root-first') await fsp.lchown(root, uid, gid);
  for (const e of await fsp.readdir(root, { withFileTypes: true })) {
    const abs = path.join(root, e.name);
    if (e.isDirectory()) await chownTree(abs, uid, gid, order);
    else await fsp.lchown(abs, uid, gid);
  }
  if (order === 'leaves-first') await fsp.lchown(root, uid, gid);
}

/** Moves a tree, across file systems too (a copy that keeps links as they are, then the original removed). */
export async function moveTree(from: string, to: string): Promise<void> {
  try {
    await fsp.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await fsp.cp(from, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, errorOnExist: true, force: false, mode: fs.constants.COPYFILE_EXCL });
    await fsp.rm(from, { recursive: true, force: true });
  }
}

/** What the build log keeps of an install's output; the rest is counted, not kept. */
export const INSTALL_OUTPUT_LIMIT = 1024 * 1024;

/**
 * Passes an install's output on until `limit` bytes, then calls `onCut` once and drops the rest. The
 * install is not stopped: verbose output (node-gyp compiles) is no fault, and the install is already
 * bounded by the build timeout and the CPU, memory and pids caps.
 */
export function capOutput(limit: number, sink: (chunk: Buffer) => void, onCut: () => void): (chunk: Buffer) => void {
  let passed = 0;
  return (chunk) => {
    if (passed >= limit) return;
    const room = limit - passed;
    passed += Math.min(room, chunk.length);
    if (chunk.length <= room) {
      sink(chunk);
    } else {
      sink(chunk.subarray(0, room));
      onCut();
    }
  };
}
