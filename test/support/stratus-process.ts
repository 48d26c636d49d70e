// Stratus as `npm start` runs it — platform/main.ts in a child process — for tests that kill it with
// SIGKILL, restart it, run two of them on one Redis, or take its Redis away: what a test in the same
// process cannot do. Also a small client for the async API (submit, read, wait for a status, list records)
// and the removal of what a test's processes leave: its Redis keys, its containers and state dirs.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { platformIdFor } from '../../core/platform-id.js';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { chooseRunDir, removeInstanceDir } from '../../scheduler/backends/instance-dir.js';

export interface SpawnedStratus {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  log(): string;
  exited: Promise<number | null>;
  /** Sends the signal (unless it has exited) and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Its URL once it says it listens; rejects if it exits first. */
  listening: Promise<string>;
}

export interface StratusProcess extends Omit<SpawnedStratus, 'listening'> {
  url: string;
}

/** Spawns platform/main.ts with `env` on top of PATH/HOME/CA and an ephemeral port, without waiting for it. */
export function spawnStratus(apiKey: string, env: Record<string, string>): SpawnedStratus {
  let log = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'platform/main.ts'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '', STRATUS_PORT: '0', STRATUS_API_KEY: apiKey, STRATUS_DATA_PLANE: process.env.STRATUS_E2E_DATA_PLANE ?? 'node', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c) => (log += c));
  child.stderr!.on('data', (c) => (log += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /Stratus is listening on (http:\/\/\S+)/.exec(log);
      if (m) {
        clearInterval(timer);
        resolve(m[1]!);
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`stratus exited with ${code} before listening:\n${log}`));
    });
  });
  listening.catch(() => {}); // awaited by the caller; an early exit must not surface as unhandled meanwhile
  return { child, log: () => log, exited, kill, listening };
}

/** Spawns it and resolves once it listens (killed, and an error with its output, past `timeoutMs`). */
export async function startStratus(apiKey: string, env: Record<string, string>, timeoutMs = 60_000): Promise<StratusProcess> {
  const { listening, ...spawned } = spawnStratus(apiKey, env);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`stratus did not listen within ${timeoutMs} ms:\n${spawned.log()}`)), timeoutMs);
  });
  try {
    return { ...spawned, url: await Promise.race([listening, late]) };
  } catch (err) {
    await spawned.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export interface InvocationView {
  id: string;
  status: string;
  attempts: number;
  result: { statusCode: number; body: string } | null;
  error: { code: string; message: string } | null;
  timings: { startedAt: string | null; finishedAt: string | null };
}

/** The async API of one Stratus, as a test uses it. */
export function asyncClient(url: string, apiKey: string) {
  const api = (p: string, init: RequestInit = {}) => fetch(`${url}${p}`, { ...init, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' } });
  const view = async (id: string): Promise<InvocationView> => (await (await api(`/v1/invocations/${id}`)).json()) as InvocationView;
  const records = async (fn: string, query = ''): Promise<InvocationRecord[]> => {
    const res = await api(`/v1/functions/${fn}/invocations?limit=1000${query}`);
    return ((await res.json()) as { invocations: InvocationRecord[] }).invocations;
  };
  return {
    api,
    view,
    async submit(fn: string, data: unknown): Promise<string> {
      const res = await api(`/v1/functions/${fn}/invocations`, { method: 'POST', body: JSON.stringify(data) });
      if (res.status !== 202) throw new Error(`submit to ${fn} answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { id: string }).id;
    },
    /** Polls until the invocation has `status` or the time is up; returns the last view either way. */
    async until(id: string, status: string, ms = 60_000): Promise<InvocationView> {
      const deadline = Date.now() + ms;
      for (;;) {
        const v = await view(id).catch(() => null);
        if (v && (v.status === status || Date.now() > deadline)) return v;
        if (!v && Date.now() > deadline) throw new Error(`GET /v1/invocations/${id} kept failing`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    records,
    /** The records once there are at least `count` (they are written in batches), or what there is after `ms`. */
    async recordsUntil(fn: string, query: string, count: number, ms = 15_000): Promise<InvocationRecord[]> {
      const deadline = Date.now() + ms;
      for (;;) {
        const listed = await records(fn, query);
        if (listed.length >= count || Date.now() > deadline) return listed;
        await new Promise((r) => setTimeout(r, 250));
      }
    },
  };
}

/** Deletes every key under `prefix` (a test's own platform prefix, never a bare pattern). */
export async function removeRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  if (!/^[A-Za-z0-9._-]+:$/.test(prefix)) throw new Error(`refusing to delete keys under "${prefix}"`);
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const keys = await admin.keys(`${prefix}*`);
    for (let i = 0; i < keys.length; i += 500) await admin.del(...keys.slice(i, i + 500));
  } finally {
    admin.disconnect();
  }
}

/**
 * Removes what killed Stratus processes left, then their state dirs: the containers labelled with their
 * platform ids (install containers included; by default each state dir's own id) and the instance dirs,
 * whose socket tmpfs is still mounted (a plain recursive rm would fail on it).
 */
export async function removeLeftovers(docker: Docker, stateDirs: string[], platforms: string[] = stateDirs.map((d) => platformIdFor(d))): Promise<void> {
  for (const platform of platforms) {
    for (const c of await docker.listContainers({ all: true, filters: { label: [`dev.stratus.platform=${platform}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
    }
  }
  for (const d of stateDirs) {
    const runDir = chooseRunDir(path.join(d, 'run'));
    for (const e of await fs.readdir(runDir).catch(() => [])) await removeInstanceDir(runDir, e).catch(() => {});
    await fs.rm(d, { recursive: true, force: true });
  }
}
