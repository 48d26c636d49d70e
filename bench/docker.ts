// Docker as the bench uses it directly (the floors): the plain `docker` CLI, because "a plain docker
// run" is what the floor figure means. Every container the bench creates carries the label
// dev.stratus.bench=<run id> so a sweep removes exactly ours, even after a failure.

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';

export const BENCH_LABEL = 'dev.stratus.bench';

export function docker(args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`docker ${args.slice(0, 3).join(' ')} …: ${stderr.trim() || err.message}`));
      else resolve(stdout.trim());
    });
  });
}

export interface RunOptions {
  runId: string;
  name: string;
  image: string;
  env?: Record<string, string>;
  /** host path → container path (read-only unless ":rw" is given in the container path). */
  mounts?: Array<[string, string]>;
  networkHost?: boolean;
  memoryMb?: number;
}

/**
 * `docker run -d` shaped like a Stratus instance where it matters for speed (uid, read-only root, tmpfs,
 * memory limit and cpu shares), so a floor differs from the platform only by what the platform adds.
 */
export function runArgs(o: RunOptions): string[] {
  const args = ['run', '-d', '--name', o.name, '--label', `${BENCH_LABEL}=${o.runId}`, '--user', '10001:10001', '--read-only', '--tmpfs', '/tmp:rw,nosuid,nodev,size=64m', '--cpu-shares', '512'];
  if (o.memoryMb) args.push('--memory', `${o.memoryMb}m`, '--memory-swap', `${o.memoryMb}m`);
  if (o.networkHost) args.push('--network', 'host');
  for (const [host, inside] of o.mounts ?? []) args.push('-v', `${host}:${inside.endsWith(':rw') ? inside : `${inside}:ro`}`);
  for (const [k, v] of Object.entries(o.env ?? {})) args.push('-e', `${k}=${v}`);
  args.push(o.image);
  return args;
}

export async function removeContainer(nameOrId: string): Promise<void> {
  await docker(['rm', '-f', '-v', nameOrId]).catch(() => {});
}

/** Remove every container matching the filters (e.g. our bench label); returns how many there were. */
export async function sweep(filters: string[]): Promise<number> {
  const ids = (await docker(['ps', '-aq', ...filters.flatMap((f) => ['--filter', f])]).catch(() => '')).split('\n').filter(Boolean);
  for (let i = 0; i < ids.length; i += 50) await docker(['rm', '-f', '-v', ...ids.slice(i, i + 50)], 120_000).catch(() => {});
  return ids.length;
}

export interface ContainerMemory {
  /** What `docker stats` shows: cgroup usage minus inactive page cache. */
  usageBytes: number;
  /** Anonymous memory (rss) of the container's processes. */
  rssBytes: number;
}

/** Memory of a running container read from its cgroup (v1 or v2), found through its init pid. */
export async function containerMemory(nameOrId: string): Promise<ContainerMemory | null> {
  const pid = Number(await docker(['inspect', '-f', '{{.State.Pid}}', nameOrId]).catch(() => '0'));
  if (!pid) return null;
  const lines = (await fs.readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '')).split('\n');
  const v1 = lines.find((l) => /^\d+:memory:/.test(l));
  if (v1) {
    const dir = `/sys/fs/cgroup/memory${v1.split(':')[2]}`;
    const usage = Number(await fs.readFile(`${dir}/memory.usage_in_bytes`, 'utf8').catch(() => 'NaN'));
    const stat = parseStat(await fs.readFile(`${dir}/memory.stat`, 'utf8').catch(() => ''));
    return { usageBytes: usage - (stat.total_inactive_file ?? 0), rssBytes: stat.total_rss ?? NaN };
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2) {
    const dir = `/sys/fs/cgroup${v2.slice(3)}`;
    const usage = Number(await fs.readFile(`${dir}/memory.current`, 'utf8').catch(() => 'NaN'));
    const stat = parseStat(await fs.readFile(`${dir}/memory.stat`, 'utf8').catch(() => ''));
    return { usageBytes: usage - (stat.inactive_file ?? 0), rssBytes: stat.anon ?? NaN };
  }
  return null;
}

function parseStat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v) out[k] = Number(v);
  }
  return out;
}

/** VmRSS of a host process in bytes (the gateway child), or null when it is gone. */
export async function processRss(pid: number): Promise<number | null> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : null;
}

/** A free loopback port (there is a small race until the container binds it; acceptable for a bench). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
