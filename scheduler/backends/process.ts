// The process backend: no Docker, each instance is a child process running the runtime from
// runtime-images/ directly on the host, listening on a unix socket in <runDir>/<instanceId>/.
// For laptops and CI without Docker. Isolation is much weaker than containers: no separate uid, no
// read-only root, and memory is capped only by Node's --max-old-space-size (the V8 heap, not the whole
// process the way a cgroup would; Python gets no cap at all).
//
// Unlike the Docker backend, close() stops the children it started: they would otherwise outlive
// Stratus. A <runDir>/<id>/instance.json per child lets a later run find orphans (list()) and kill them.

import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { StratusError } from '../../core/errors.js';
import { Closeable } from '../../core/lifecycle.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { RUNTIME_IMAGES_DIR } from '../../core/paths.js';
import type { Backend, InstanceExit, InstanceHandle, InstanceLogLine, InstanceLogSource, InstanceSpec, StagedCode } from './backend.js';
import { describeNotHealthy, logStartFailure, NotHealthyError, waitUntilHealthy } from './health.js';
import { assertSafeInstanceId, assertSocketPathFits, chooseRunDir, instanceDir, removeInstanceDir } from './instance-dir.js';
import { exitedWithin, exitOf, isAlive, isRuntimePid, killGroup, waitGone, type Child } from './process-child.js';
import { InstanceStartError } from './start-output.js';

export interface ProcessBackendOptions {
  runDir: string;
  runtimeImagesDir?: string;
  nodeBin?: string;
  pythonBin?: string;
  /** Environment every child starts from (PATH, NODE_EXTRA_CA_CERTS...): the host env is not inherited. */
  baseEnv?: Record<string, string>;
  startTimeoutMs?: number;
  stopGraceMs?: number;
  logger?: Logger;
}

const SOCKET = 'runtime.sock';
const RECORD = 'instance.json';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const RECENT_EXITS_KEPT = 256;

type InstanceRecord = Omit<InstanceHandle, 'endpoint' | 'backendRef'> & { pid: number };

export class ProcessBackend extends Closeable implements Backend, InstanceLogSource {
  readonly kind = 'process' as const;
  readonly runDir: string;
  readonly #children = new Map<string, Child>();
  readonly #listeners = new Set<(exit: InstanceExit) => void>();
  /** How recent children ended, kept past their removal: a caller may ask why after the scheduler stopped it. */
  readonly #recentExits = new Map<string, InstanceExit>();
  readonly #logListeners = new Set<(entry: InstanceLogLine) => void>();
  readonly #log: Logger;

  constructor(private readonly opts: ProcessBackendOptions) {
    super();
    this.runDir = chooseRunDir(opts.runDir, SOCKET);
    this.#log = (opts.logger ?? silentLogger).child({ component: 'process-backend' });
  }

  async start(spec: InstanceSpec, signal?: AbortSignal): Promise<InstanceHandle> {
    if (this.closed) throw new StratusError('SHUTTING_DOWN', 'Stratus is shutting down; retry against another replica');
    const what = spec.function ? `function ${spec.function} v${spec.version}` : `${spec.runtime ?? ''} stem`;
    const fail = (msg: string, cause?: unknown, output: readonly string[] = []) =>
      new InstanceStartError(`${what}: ${msg}`, { instanceId: spec.instanceId }, output, { cause });
    if (spec.runtime !== 'node' && spec.runtime !== 'python') throw fail('the process backend needs a runtime (node or python)');
    if (spec.role === 'function' && !spec.artifactDir) throw fail('no code to run (the process backend runs the built artifact directory)');
    // A promise of isolation it cannot keep is refused rather than ignored; a CPU cap only loses fairness.
    if (spec.network === 'none') throw fail('network "none" needs the Docker or Kubernetes backend: a child process shares the host\'s network');
    if (spec.cpus !== null) this.#log.warn('cpus is not enforced by the process backend', { function: spec.function, cpus: spec.cpus });
    const dir = instanceDir(this.runDir, spec.instanceId);
    const socketPath = path.join(dir, SOCKET);
    try {
      assertSafeInstanceId(spec.instanceId);
      assertSocketPathFits(socketPath);
      await fs.mkdir(this.runDir, { recursive: true, mode: 0o700 });
      await fs.mkdir(dir, { mode: 0o700 }); // EEXIST: the id is in use, and that instance must be left alone
    } catch (err) {
      throw fail((err as Error).message, err);
    }

    const proc = this.#spawn(spec, socketPath, dir);
    const child: Child = { proc, spec, exit: null, stopping: false, tail: [], exited: null! };
    child.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    // 'exit' may come before the pipes have delivered the last output (a crash's message): 'close' follows them.
    const outputRead = new Promise<void>((resolve) => proc.once('close', () => resolve()));
    this.#children.set(spec.instanceId, child);
    this.#watch(child);
    const { instanceId, role, runtime, function: fn, version } = spec;
    const record: InstanceRecord = { instanceId, role, runtime, function: fn, version, pid: proc.pid ?? -1, startedAt: Date.now() };
    try {
      if (proc.pid === undefined) throw new NotHealthyError('gone', 'could not be spawned');
      await fs.writeFile(path.join(dir, RECORD), JSON.stringify(record));
      await waitUntilHealthy({
        endpoint: { kind: 'unix', socketPath },
        timeoutMs: this.opts.startTimeoutMs ?? 30_000,
        ...(signal ? { signal } : {}),
        goneCheckEveryMs: 0,
        checkGone: async () => (child.exit ? `exited with code ${child.exit.exitCode}` : null),
      });
    } catch (err) {
      await this.stop(instanceId, { graceMs: 0 });
      await exitedWithin(outputRead, 1000);
      logStartFailure(this.#log, { instanceId, lastLogLines: child.tail.join('\n') }, err);
      throw fail(describeNotHealthy(err, this.opts.startTimeoutMs ?? 30_000), err, [...child.tail]);
    }
    return { ...record, endpoint: { kind: 'unix', socketPath }, backendRef: `pid:${record.pid}` };
  }

  /** The runtime runs on the host: it reads the artifact where it is. */
  async stageCode(instance: InstanceHandle, artifactDir: string): Promise<StagedCode> {
    // From here on the stem's output is the function's.
    const child = this.#children.get(instance.instanceId);
    if (child) child.spec = { ...child.spec, role: instance.role, function: instance.function, version: instance.version };
    return { codeDir: artifactDir };
  }

  /** Without cgroups a running process's limits cannot change; a stem keeps the heap cap it started with. */
  async setLimits(): Promise<void> {}

  async stop(instanceId: string, opts?: { graceMs?: number }): Promise<void> {
    assertSafeInstanceId(instanceId);
    const graceMs = opts?.graceMs ?? this.opts.stopGraceMs ?? 5000;
    const child = this.#children.get(instanceId);
    if (child) {
      child.stopping = true;
      if (!child.exit && child.proc.pid !== undefined) {
        killGroup(child.proc.pid, graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
        if (!(await exitedWithin(child.exited, graceMs))) {
          killGroup(child.proc.pid, 'SIGKILL');
          await child.exited;
        }
      }
      this.#children.delete(instanceId);
      if (child.exit) {
        this.#recentExits.set(instanceId, child.exit);
        if (this.#recentExits.size > RECENT_EXITS_KEPT) this.#recentExits.delete(this.#recentExits.keys().next().value!);
      }
    } else {
      const record = await this.#readRecord(instanceId);
      if (record && isRuntimePid(record.pid)) {
        killGroup(record.pid, graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
        if (!(await waitGone(record.pid, graceMs))) {
          killGroup(record.pid, 'SIGKILL');
          await waitGone(record.pid, 2000);
        }
      }
    }
    await removeInstanceDir(this.runDir, instanceId);
  }

  async list(): Promise<InstanceHandle[]> {
    const handles: InstanceHandle[] = [];
    const names = await fs.readdir(this.runDir).catch(() => [] as string[]);
    for (const id of names) {
      const own = this.#children.get(id);
      if (own?.exit) continue;
      const record = await this.#readRecord(id);
      if (!record || (!own && !isRuntimePid(record.pid))) continue;
      handles.push({ ...record, endpoint: { kind: 'unix', socketPath: path.join(instanceDir(this.runDir, id), SOCKET) }, backendRef: `pid:${record.pid}` });
    }
    return handles;
  }

  async diagnose(instanceId: string): Promise<InstanceExit | null> {
    const child = this.#children.get(instanceId);
    if (child) return child.exit;
    const recent = this.#recentExits.get(instanceId);
    if (recent) return recent;
    const record = await this.#readRecord(instanceId);
    if (record && isAlive(record.pid)) return null;
    return { instanceId, reason: 'killed', exitCode: null };
  }

  onExit(listener: (exit: InstanceExit) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Children's stdout/stderr lines; orphans of an earlier run (found by list()) are not ours to read. */
  onLog(listener: (entry: InstanceLogLine) => void): () => void {
    this.#logListeners.add(listener);
    return () => {
      this.#logListeners.delete(listener);
    };
  }

  protected override async doClose(): Promise<void> {
    await Promise.all([...this.#children.keys()].map((id) => this.stop(id, { graceMs: this.opts.stopGraceMs ?? 2000 })));
    this.#listeners.clear();
    this.#logListeners.clear();
  }

  #spawn(spec: InstanceSpec, socketPath: string, dir: string): ChildProcess {
    const imagesDir = this.opts.runtimeImagesDir ?? RUNTIME_IMAGES_DIR;
    const env: Record<string, string> = { PATH: DEFAULT_PATH, ...this.opts.baseEnv, ...spec.env, STRATUS_SOCKET: socketPath };
    if (spec.artifactDir) env.STRATUS_CODE_DIR = spec.artifactDir;
    if (spec.handler) env.STRATUS_HANDLER = spec.handler;
    if (spec.role === 'stem') env.STRATUS_STEM = '1';
    if (spec.function) env.STRATUS_FUNCTION_NAME = spec.function;
    if (spec.concurrency !== null) env.STRATUS_CONCURRENCY = String(spec.concurrency);
    if (spec.version !== null) env.STRATUS_FUNCTION_VERSION = String(spec.version);
    const [bin, args] =
      spec.runtime === 'python'
        ? [this.opts.pythonBin ?? 'python3', ['-u', path.join(imagesDir, 'python', 'runtime.py')]]
        : [this.opts.nodeBin ?? process.execPath, [`--max-old-space-size=${spec.memoryMb}`, path.join(imagesDir, 'node', 'runtime.mjs')]];
    // detached: the child leads its own process group, so stop() also reaches anything it forked.
    return spawn(bin, args, { cwd: spec.artifactDir ?? dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  #watch(child: Child): void {
    const id = child.spec.instanceId;
    const log = this.#log.child({ instanceId: id });
    const onLine = (stream: 'stdout' | 'stderr', text: string, time: number) => {
      child.tail.push(text);
      if (child.tail.length > 30) child.tail.shift();
      log.debug('instance output', { line: text });
      if (this.#logListeners.size === 0) return;
      const entry: InstanceLogLine = { instanceId: id, function: child.spec.function, version: child.spec.version, stream, text, time };
      for (const l of this.#logListeners) {
        try {
          l(entry);
        } catch (err) {
          log.error('log listener threw', { error: err as Error });
        }
      }
    };
    for (const [name, stream] of [['stdout', child.proc.stdout], ['stderr', child.proc.stderr]] as const) {
      let buf = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        buf += chunk;
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        const time = Date.now();
        for (const line of lines) onLine(name, line, time);
      });
      // A crash's last words often lack a newline.
      stream?.on('end', () => {
        if (buf) onLine(name, buf, Date.now());
        buf = '';
      });
    }
    child.proc.on('error', (err) => log.warn('child process error', { error: err }));
    // The diagnosis waits for the pipes' last lines ('close' follows 'exit'): V8's out-of-memory report
    // often arrives after 'exit', and without it an OOM was called a crash. Bounded: a process the
    // function started may hold the pipes open.
    const outputEnded = new Promise<void>((resolve) => child.proc.once('close', () => resolve()));
    child.proc.once('exit', (code, sig) => {
      void exitedWithin(outputEnded, 500).then(() => {
        child.exit = exitOf(id, code, sig, child.tail);
        if (child.stopping) return;
        log.warn('instance exited', { ...child.exit });
        for (const l of [...this.#listeners]) l(child.exit);
      });
    });
  }

  async #readRecord(instanceId: string): Promise<InstanceRecord | null> {
    try {
      return JSON.parse(await fs.readFile(path.join(instanceDir(this.runDir, instanceId), RECORD), 'utf8')) as InstanceRecord;
    } catch {
      return null;
    }
  }
}
