// Child-process bookkeeping for the process backend: what an exit means, and how to find, signal and
// wait for a runtime process (ours, or an orphan of an earlier run known only by its pid).

import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { InstanceExit, InstanceSpec } from './backend.js';

export interface Child {
  proc: ChildProcess;
  spec: InstanceSpec;
  /** Set once the process has exited. */
  exit: InstanceExit | null;
  /** Stratus asked it to stop: its exit is not reported to onExit listeners. */
  stopping: boolean;
  /** Last output lines, for start-failure logs and OOM detection. */
  tail: string[];
  exited: Promise<void>;
}

// V8 prints these when the --max-old-space-size cap is hit; Python raises MemoryError.
const OOM_PATTERN = /JavaScript heap out of memory|Reached heap limit|MemoryError/;

export function exitOf(instanceId: string, code: number | null, signal: NodeJS.Signals | null, tail: string[]): InstanceExit {
  const exitCode = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : null);
  if (tail.some((l) => OOM_PATTERN.test(l))) return { instanceId, reason: 'oom', exitCode };
  if (signal === 'SIGKILL') return { instanceId, reason: 'killed', exitCode };
  return { instanceId, reason: 'exited', exitCode };
}

export function isAlive(pid: number): boolean {
  if (!(pid > 1)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Alive and still a Stratus runtime: a pid file may outlive its process and the pid be reused by an
 * unrelated program, which must never be signalled. Where /proc is missing, liveness has to do.
 */
export function isRuntimePid(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /runtime\.(mjs|py)/.test(cmdline);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || process.platform !== 'linux';
  }
}

/** Signals the child's process group (it was spawned detached, as a group leader); gone is fine. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return;
    } catch {
      // not a group leader (an orphan from elsewhere) or already gone: try the pid, then give up
    }
  }
}

/** Resolves true once `exited` settles, false after ms; leaves no timer behind. */
export function exitedWithin(exited: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void exited.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Polls a foreign pid (not our child: no exit event) until it is gone or ms pass. */
export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
