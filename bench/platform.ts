// The platform as the bench drives it: a child process (bench/platform-child.ts) with its own state dir
// and in-memory store (unless a section asks for Redis), and a thin client of its API. Everything it starts is removed by stop(); if the
// child died, sweep() removes the containers still pointing into its state dir.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, openSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseRunDir } from '../scheduler/backends/instance-dir.js';
import { deployFunction, waitForBuild } from '../test/support/platform-client.js';
import { docker, processRss, sweep } from './docker.js';
import { FUNCTION_FILE, FUNCTION_SOURCE } from './function-code.js';
import type { Address } from './http-load.js';
import { sleep } from './stats.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(HERE);
/** Compiled copy of the project for the platform child, inside the git-ignored results dir. */
const DIST = path.join(HERE, 'results', 'dist');

export type Runner = { kind: 'node'; script: string } | { kind: 'tsx'; script: string; why: string };

/**
 * How the platform child runs: compiled JS under plain node when possible, because tsx's loader thread
 * adds ~30 MiB to the process and would be counted as gateway RSS. Compiled by npm start's own build
 * (scripts/build-dist.mjs: esbuild, only what changed, ~0.3 s for everything), which does not stop at a
 * type error (a teammate's work in progress): only a failed build falls back to tsx.
 */
export async function prepareRunner(log: (s: string) => void): Promise<Runner> {
  const ts = path.join(HERE, 'platform-child.ts');
  if (process.env.BENCH_TSX === '1') return { kind: 'tsx', script: ts, why: 'BENCH_TSX=1' };
  const failed = await new Promise<string>((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'scripts', 'build-dist.mjs'), '--outdir', DIST], { cwd: ROOT, timeout: 180_000 }, (err, _stdout, stderr) => resolve(err ? stderr.trim() || err.message : ''));
  });
  if (failed) {
    log(`  build failed, running under tsx: ${failed.split('\n').slice(0, 5).join(' | ')}`);
    return { kind: 'tsx', script: ts, why: 'the build failed' };
  }
  return { kind: 'node', script: path.join(DIST, 'bench', 'platform-child.js') };
}

export interface InstanceView {
  id: string;
  state: string;
  version: number;
  inFlight: number;
  startKind: string;
}

export class Platform {
  private constructor(
    readonly label: string,
    readonly url: string,
    readonly apiKey: string,
    readonly pid: number,
    readonly stateDir: string,
    readonly logPath: string,
    /** Which data plane the platform started (native: HAProxy in front, Stratus on <stateDir>/native/activator.sock). */
    readonly dataPlane: 'native' | 'node',
    private readonly child: ChildProcess,
  ) {}

  /**
   * Starts a platform child. `settings` are STRATUS_* values on top of the bench's defaults: Docker
   * backend, memory store (the bench leaves nothing in a shared Redis), a port chosen by the OS.
   */
  static async launch(label: string, settings: Record<string, string>, logDir: string, runner: Runner): Promise<Platform> {
    const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-bench-'));
    const logPath = path.join(logDir, `platform-${label}.log`);
    const logFd = openSync(logPath, 'w');
    const env: Record<string, string | undefined> = {
      ...process.env,
      STRATUS_BACKEND: 'docker',
      STRATUS_STORE: 'memory',
      STRATUS_IMAGE_PREFIX: 'stratus-bench',
      STRATUS_LOG_LEVEL: 'warn',
      // Every section measures one version at a time and makes new ones by PATCH (a cold sample each), so
      // the old version's instances, kept warm 10 minutes for a rollback by default, would pile up: the
      // cold, warm and scale sections wait for them to go, and footprint would count them. Retire at once.
      STRATUS_ROLLBACK_WARM_MS: '0',
      // The platform's default (auto) takes HAProxy's native data plane wherever HAProxy is installed, so a
      // section would measure a different path from one machine to the next. The bench says which: Stratus's
      // Node path unless a section asks otherwise (native-platform) or BENCH_DATA_PLANE=native|auto says so.
      STRATUS_DATA_PLANE: process.env.BENCH_DATA_PLANE ?? 'node',
      ...settings,
      STRATUS_PORT: '0',
      STRATUS_HOST: '127.0.0.1',
      STRATUS_STATE_DIR: stateDir,
    };
    const args = runner.kind === 'node' ? [runner.script] : ['--import', 'tsx', runner.script];
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', logFd] });
    closeSync(logFd);
    const line = await new Promise<string>((resolve, reject) => {
      child.once('exit', () => void fs.rm(stateDir, { recursive: true, force: true }).catch(() => {}));
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGTERM'); // never registered with the bench, so it must not outlive this failure
        reject(new Error(`platform ${label} did not start within 60 s; see ${logPath}`));
      }, 60_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          resolve(out.slice(0, nl));
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        void fs.readFile(logPath, 'utf8').catch(() => '').then((text) => {
          const why = text.split('\n').find((l) => /Error|error/.test(l))?.trim() ?? '';
          reject(new Error(`platform ${label} exited with code ${code} before listening (${why.slice(0, 300)}); see ${logPath}`));
        });
      });
    });
    const { url, apiKey, pid } = JSON.parse(line) as { url: string; apiKey: string; pid: number };
    const native = await fs.access(path.join(stateDir, 'native', 'activator.sock')).then(() => true, () => false);
    return new Platform(label, url.replace(/\/$/, ''), apiKey, pid, stateDir, logPath, native ? 'native' : 'node', child);
  }

  /** The gateway's loopback address, for the load loop's keep-alive agent. */
  get address(): Address {
    return { host: '127.0.0.1', port: Number(new URL(this.url).port) };
  }

  async api<T>(method: string, pathname: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${this.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${pathname} answered ${res.status}: ${text.slice(0, 500)}`);
    return (text ? JSON.parse(text) : null) as T;
  }

  /** Deploys the bench function from uploaded code and waits for its build; returns the version's image. */
  async deploy(name: string, config: Record<string, unknown>): Promise<{ version: number; image: string | null }> {
    const res = await deployFunction(this, { name, runtime: 'node', ...config }, { file: FUNCTION_FILE, content: FUNCTION_SOURCE });
    const body = (await res.json()) as { buildId?: string; version?: number; detail?: string };
    if (res.status !== 202 || !body.buildId) throw new Error(`deploy of ${name} answered ${res.status}: ${JSON.stringify(body).slice(0, 500)}`);
    const build = await waitForBuild(this, body.buildId, 300_000);
    if (build.status !== 'succeeded') throw new Error(`build of ${name} failed: ${build.error ?? 'no reason given'}; see ${this.logPath}`);
    return { version: body.version ?? 1, image: build.image };
  }

  /** A config change: a new version of the same code and image, current at once (and cold). */
  patch(name: string, patch: Record<string, unknown>): Promise<{ version: number }> {
    return this.api('PATCH', `/v1/functions/${name}`, patch);
  }

  async remove(name: string): Promise<void> {
    await this.api('DELETE', `/v1/functions/${name}`).catch(() => {});
  }

  async instances(name: string): Promise<InstanceView[]> {
    return (await this.api<{ instances: InstanceView[] }>('GET', `/v1/functions/${name}/instances`)).instances;
  }

  /** One gauge or counter sample from GET /metrics, summed over series matching every label given. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const res = await fetch(`${this.url}/metrics`, { headers: { authorization: `Bearer ${this.apiKey}` } });
    let sum = 0;
    for (const line of (await res.text()).split('\n')) {
      if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  rss(): Promise<number | null> {
    return processRss(this.pid);
  }

  /** SIGTERM (the platform drains and removes its instances), bounded; then a sweep of anything left. */
  async stop(): Promise<number> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
      this.child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(180_000).then(() => false)]);
      if (!done) this.child.kill('SIGKILL');
    }
    const left = await this.sweep();
    await fs.rm(this.stateDir, { recursive: true, force: true }).catch(() => {});
    return left;
  }

  /** Containers of this platform still present (found by their bind mounts into its state dir): removed. */
  async sweep(): Promise<number> {
    const roots = [this.stateDir, chooseRunDir(path.join(this.stateDir, 'run'))];
    const ids = (await docker(['ps', '-aq', '--filter', 'label=dev.stratus.platform']).catch(() => '')).split('\n').filter(Boolean);
    const ours: string[] = [];
    for (const id of ids) {
      const mounts = await docker(['inspect', '-f', '{{range .Mounts}}{{.Source}} {{end}}', id]).catch(() => '');
      if (mounts.split(' ').some((m) => roots.some((r) => m.startsWith(r + '/')))) ours.push(id);
    }
    for (const id of ours) await sweep([`id=${id}`]);
    return ours.length;
  }
}
