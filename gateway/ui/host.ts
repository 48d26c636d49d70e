// What the host page shows: CPU, memory, Stratus's containers, the state dir's disk, Redis's and the
// registry's health, the stem pools. Each figure is read when a page or its live stream asks (every few
// seconds while someone looks), with a short deadline, never on the call path. The state dir's size is a
// walk of its files, so it is cached for a minute and bounded in entries.

import type Docker from 'dockerode';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from '../../core/log.js';
import { createRedisClient } from '../../core/redis-client.js';

export interface StemPoolView {
  runtime: string;
  ready: number;
  size: number;
}

export interface HostSnapshot {
  cpu: { cores: number; load: number[]; busy: number | null };
  memory: { total: number; available: number; stratusRss: number };
  /** Stratus's own containers (a specialized stem stays labelled a stem), its function instances, Docker's running containers. */
  containers: { stratus: number; running: number | null } | null;
  instances: number;
  disk: { path: string; total: number; free: number; stateBytes: number | null; stateEntriesCapped: boolean };
  redis: Health & { version?: string; usedMemory?: number };
  registry: Health & { address: string };
  stems: StemPoolView[];
  backend: string;
  store: string;
}

export interface Health {
  status: 'ok' | 'down' | 'unused';
  latencyMs: number | null;
  detail: string | null;
}

export interface HostProbeDeps {
  stateDir: string;
  backend: string;
  store: string;
  /** Redis's URL when the store is Redis; null otherwise. */
  redisUrl: string | null;
  /** The registry's host:port (only ever the configured one). */
  registry: string;
  docker: Docker | null;
  platformId: string;
  stems(): StemPoolView[];
  /** Function instances this Stratus runs now (the scheduler's count). */
  instances(): Promise<number>;
  logger: Logger;
}

const DEADLINE_MS = 2000;
const MAX_WALK_ENTRIES = 200_000;

export class HostProbe {
  #redis: Redis | null = null;
  #lastCpu: { idle: number; total: number } | null = null;
  #stateSize: { at: number; bytes: number; capped: boolean } | null = null;
  #walking: Promise<void> | null = null;
  #memory = new Map<string, { at: number; bytes: number | null }>();

  constructor(private readonly deps: HostProbeDeps) {}

  async snapshot(): Promise<HostSnapshot> {
    const [containers, disk, redis, registry, instances] = await Promise.all([this.#containers(), this.#disk(), this.#redisHealth(), this.#registryHealth(), this.deps.instances()]);
    return {
      cpu: { cores: os.cpus().length, load: os.loadavg(), busy: this.#cpuBusy() },
      memory: { total: os.totalmem(), available: os.freemem(), stratusRss: process.memoryUsage().rss },
      containers, instances, disk, redis, registry, stems: this.deps.stems(), backend: this.deps.backend, store: this.deps.store,
    };
  }

  /** Memory in use by each instance's container (Docker only; null where not known), cached for 10 s. */
  async instanceMemory(instanceIds: string[]): Promise<Map<string, number | null>> {
    const out = new Map<string, number | null>();
    const docker = this.deps.docker;
    const now = Date.now();
    await Promise.all(instanceIds.slice(0, 50).map(async (id) => {
      const hit = this.#memory.get(id);
      if (hit && now - hit.at < 10_000) return void out.set(id, hit.bytes);
      let bytes: number | null = null;
      if (docker) {
        const stats = await withDeadline(docker.getContainer(`stratus-${id}`).stats({ stream: false, 'one-shot': true } as { stream: false })).catch(() => null);
        const m = (stats as { memory_stats?: { usage?: number; stats?: { inactive_file?: number; total_inactive_file?: number } } } | null)?.memory_stats;
        // As `docker stats` shows it: usage less the page cache that could be dropped.
        if (m?.usage !== undefined) bytes = m.usage - (m.stats?.inactive_file ?? m.stats?.total_inactive_file ?? 0);
      }
      this.#memory.set(id, { at: now, bytes });
      out.set(id, bytes);
    }));
    for (const [id, v] of this.#memory) if (now - v.at > 60_000) this.#memory.delete(id);
    return out;
  }

  async close(): Promise<void> {
    await this.#walking?.catch(() => {});
    this.#redis?.disconnect();
    this.#redis = null;
  }

  /** Busy share of all cores since the previous snapshot (null on the first). */
  #cpuBusy(): number | null {
    let idle = 0, total = 0;
    for (const c of os.cpus()) {
      idle += c.times.idle;
      total += c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
    }
    const prev = this.#lastCpu;
    this.#lastCpu = { idle, total };
    if (!prev || total <= prev.total) return null;
    return 1 - (idle - prev.idle) / (total - prev.total);
  }

  async #containers(): Promise<HostSnapshot['containers']> {
    const docker = this.deps.docker;
    if (!docker) return null;
    const [mine, info] = await Promise.all([
      withDeadline(docker.listContainers({ filters: { label: [`dev.stratus.platform=${this.deps.platformId}`] } })).catch(() => null),
      withDeadline(docker.info() as Promise<{ ContainersRunning?: number }>).catch(() => null),
    ]);
    if (!mine) return null;
    return { stratus: mine.length, running: info?.ContainersRunning ?? null };
  }

  async #disk(): Promise<HostSnapshot['disk']> {
    const dir = path.resolve(this.deps.stateDir);
    const st = await fs.statfs(dir).catch(() => null);
    const cached = this.#stateSize;
    if (!this.#walking && (!cached || Date.now() - cached.at > 60_000)) {
      this.#walking = sizeOf(dir).then((s) => void (this.#stateSize = { at: Date.now(), ...s }), () => {}).finally(() => (this.#walking = null));
    }
    // The first page waits for the first walk (bounded); later ones show the cached figure.
    if (!cached) await this.#walking;
    const size = this.#stateSize;
    return { path: dir, total: st ? st.blocks * st.bsize : 0, free: st ? st.bavail * st.bsize : 0, stateBytes: size?.bytes ?? null, stateEntriesCapped: size?.capped ?? false };
  }

  async #redisHealth(): Promise<HostSnapshot['redis']> {
    if (!this.deps.redisUrl) return { status: 'unused', latencyMs: null, detail: 'the store is in memory' };
    if (!this.#redis) {
      // No logger: health is what the probe reports; a reconnect is ioredis's business.
      this.#redis = createRedisClient(this.deps.redisUrl, { name: 'stratus-dashboard', use: 'health', connectTimeoutMs: DEADLINE_MS });
    }
    const redis = this.#redis;
    const t0 = performance.now();
    try {
      if (redis.status === 'wait' || redis.status === 'end') await withDeadline(redis.connect());
      await withDeadline(redis.ping());
      const latencyMs = performance.now() - t0;
      const info = await withDeadline(redis.info());
      const field = (k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(info)?.[1]?.trim();
      return { status: 'ok', latencyMs, detail: null, version: field('redis_version'), usedMemory: Number(field('used_memory') ?? NaN) };
    } catch (err) {
      return { status: 'down', latencyMs: null, detail: (err as Error).message };
    }
  }

  #registryHealth(): Promise<HostSnapshot['registry']> {
    const [host, port] = this.deps.registry.split(':');
    const t0 = performance.now();
    return new Promise((resolve) => {
      const req = http.get({ host, port: Number(port ?? 80), path: '/v2/', timeout: DEADLINE_MS }, (res) => {
        res.resume();
        const ok = res.statusCode === 200 || res.statusCode === 401;
        resolve({ status: ok ? 'ok' : 'down', latencyMs: performance.now() - t0, detail: ok ? null : `answered ${res.statusCode}`, address: this.deps.registry });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${DEADLINE_MS} ms`)));
      req.on('error', (err) => resolve({ status: 'down', latencyMs: null, detail: err.message, address: this.deps.registry }));
    });
  }
}

function withDeadline<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${DEADLINE_MS} ms`)), DEADLINE_MS)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Bytes under `dir` (files as allocated on disk), walking at most MAX_WALK_ENTRIES entries. */
async function sizeOf(dir: string): Promise<{ bytes: number; capped: boolean }> {
  let bytes = 0, seen = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    const entries = await fs.readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (++seen > MAX_WALK_ENTRIES) return { bytes, capped: true };
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) bytes += ((await fs.lstat(p).catch(() => null))?.blocks ?? 0) * 512;
    }
  }
  return { bytes, capped: false };
}
