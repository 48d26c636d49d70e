// The Docker backend: one container per instance on one host, hardened (non-root uid, read-only root,
// no capabilities, no new privileges, pid/memory/cpu limits) and reached through a unix socket in a
// per-instance host dir (or a port published on 127.0.0.1 — never the bridge address).
//
// close() only ends the events stream: which containers to stop on shutdown is the scheduler's call
// (it drains them), and containers left running are found again by label after a restart.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { StratusError } from '../../core/errors.js';
import { Closeable } from '../../core/lifecycle.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { CodeUrlIssuer } from '../code/code-urls.js';
import type { Backend, Endpoint, InstanceExit, InstanceHandle, InstanceLogLine, InstanceLogSource, InstanceSpec, ResourceLimits, StagedCode } from './backend.js';
import { demuxLogs, DockerLogStreams } from './docker-logs.js';
import { DockerEventStream, type ContainerEvent } from './docker-events.js';
import { readSpecialized, recordSpecialized } from './docker-specialized.js';
import { ImageCache } from './docker-image.js';
import { CONTAINER_CODE_DIR, CONTAINER_PORT, containerName, createOptions, identityFromLabels, LABEL, nanoCpus, type EndpointMode } from './docker-spec.js';
import { describeNotHealthy, logStartFailure, NotHealthyError, waitUntilHealthy, watchSocketDir } from './health.js';
import { InstanceStartError } from './start-output.js';
import { assertSafeInstanceId, assertSocketPathFits, chooseRunDir, createInstanceDir, instanceDir, linkTree, removeInstanceDir, socketPathFor, sweepOrphanInstanceDirs } from './instance-dir.js';
import { sealSocketDir, type SocketPin } from './socket-dir.js';

export interface DockerBackendOptions {
  docker: Docker;
  /** Preferred parent of per-instance dirs (e.g. <stateDir>/run); a short /tmp dir is used if sockets would not fit. */
  runDir: string;
  /** Value of the dev.stratus.platform label: tells this platform's containers from anyone else's. */
  platformId: string;
  functionUid?: number;
  pidsLimit?: number;
  cpuShares?: number;
  startTimeoutMs?: number;
  stopGraceMs?: number;
  tmpfsMb?: number;
  endpointMode?: EndpointMode;
  /** docker-init as PID 1; by default used when the daemon reports an init binary. */
  init?: boolean;
  /**
   * Stems fetch their code over HTTP instead of getting hard links: signed URLs from `urls`, fetched through
   * the unix socket Stratus serves the code route on in `socketDir` (mounted read-only into every stem at
   * CONTAINER_CODE_SOCKET_DIR, so a container reaches Stratus without any network address).
   */
  codeOverHttp?: { urls: CodeUrlIssuer; socketDir: string };
  logger?: Logger;
}

const isStatus = (err: unknown, ...codes: number[]) => codes.includes((err as { statusCode?: number }).statusCode ?? -1);

/** Adds to a set that keeps only the newest entries: ids whose die event never comes must not pile up. */
function remember(set: Set<string>, id: string, max = 1000): void {
  set.add(id);
  if (set.size > max) set.delete(set.values().next().value!);
}

export class DockerBackend extends Closeable implements Backend, InstanceLogSource {
  readonly kind = 'docker' as const;
  readonly runDir: string;
  readonly #o: Required<Omit<DockerBackendOptions, 'init' | 'logger' | 'runDir' | 'codeOverHttp'>>;
  readonly #codeOverHttp: DockerBackendOptions['codeOverHttp'];
  readonly #log: Logger;
  readonly #images: ImageCache;
  readonly #events: DockerEventStream;
  readonly #logs: DockerLogStreams;
  #init: Promise<boolean> | undefined;
  /** Instances Stratus is starting or stopping: their die events are not exits "on their own". */
  readonly #starting = new Set<string>();
  readonly #stopping = new Set<string>();
  /** Exits already reported: a re-opened events stream replays the last second. */
  readonly #reported = new Set<string>();
  readonly #oomSeen = new Set<string>();
  #exitUnsubscribe: (() => void) | null = null;
  readonly #exitListeners = new Set<(exit: InstanceExit) => void>();
  /** A failed start's last log lines, kept until start() rejects with them (InstanceStartError). */
  readonly #startOutput = new Map<string, string[]>();
  #warnedUncapped = false;

  constructor(opts: DockerBackendOptions) {
    super();
    this.runDir = chooseRunDir(opts.runDir);
    this.#o = {
      docker: opts.docker,
      platformId: opts.platformId,
      functionUid: opts.functionUid ?? 10001,
      pidsLimit: opts.pidsLimit ?? 256,
      cpuShares: opts.cpuShares ?? 512,
      startTimeoutMs: opts.startTimeoutMs ?? 30_000,
      stopGraceMs: opts.stopGraceMs ?? 5000,
      tmpfsMb: opts.tmpfsMb ?? 64,
      endpointMode: opts.endpointMode ?? 'unix',
    };
    this.#codeOverHttp = opts.codeOverHttp;
    if (opts.init !== undefined) this.#init = Promise.resolve(opts.init);
    this.#log = (opts.logger ?? silentLogger).child({ component: 'docker-backend' });
    this.#images = new ImageCache(opts.docker, this.#log);
    this.#events = new DockerEventStream(opts.docker, opts.platformId, this.#log);
    this.#logs = new DockerLogStreams(opts.docker, this.#log);
  }

  async start(spec: InstanceSpec, signal?: AbortSignal): Promise<InstanceHandle> {
    if (this.closed) throw new StratusError('SHUTTING_DOWN', 'Stratus is shutting down; retry against another replica');
    const what = spec.function ? `function ${spec.function} v${spec.version}` : `${spec.runtime ?? ''} stem`;
    const fail = (msg: string, cause?: unknown) =>
      new InstanceStartError(`${what}: ${msg}`, { instanceId: spec.instanceId }, this.#startOutput.get(spec.instanceId) ?? [], { cause });
    if (!spec.image) throw fail('no image to run (the Docker backend needs a built image)');
    try {
      assertSafeInstanceId(spec.instanceId);
      if (this.#o.endpointMode === 'unix') assertSocketPathFits(socketPathFor(this.runDir, spec.instanceId));
      else if (spec.network === 'none') throw new Error('network "none" needs the unix endpoint mode: a published port needs a network');
    } catch (err) {
      throw fail((err as Error).message, err);
    }

    try {
      await this.#images.ensure(spec.image);
    } catch (err) {
      this.#log.error('image pull failed', { image: spec.image, error: err as Error });
      throw fail(`image ${spec.image} is not present and could not be pulled; check that its build pushed it and that the registry is reachable`, err);
    }
    if (signal?.aborted) throw fail('start was aborted');

    this.#starting.add(spec.instanceId);
    try {
      return await this.#createAndWait(spec, spec.image, fail, signal);
    } finally {
      this.#starting.delete(spec.instanceId);
      this.#startOutput.delete(spec.instanceId);
    }
  }

  async #createAndWait(spec: InstanceSpec, image: string, fail: (msg: string, cause?: unknown) => StratusError, signal?: AbortSignal): Promise<InstanceHandle> {
    const mode = this.#o.endpointMode;
    const hostDir = instanceDir(this.runDir, spec.instanceId);
    const sockDir = path.join(hostDir, 'sock');
    const uid = this.#o.functionUid;
    let container: Docker.Container | null = null;
    try {
      // Before the try that cleans up: an id already in use must not get the other instance removed.
      // In tcp mode nothing of the dir is writable inside, so sock/ is not prepared for the function.
      const { capped } = await createInstanceDir(this.runDir, spec.instanceId, mode === 'unix' ? { uid, gid: uid } : null);
      if (mode === 'unix' && !capped && !this.#warnedUncapped) {
        this.#warnedUncapped = true;
        this.#log.warn(`socket directories are not size-capped: mounting a tmpfs needs root; until an instance's socket is sealed its function can write to ${this.runDir}`);
      }
    } catch (err) {
      throw fail(`could not create the instance directory under ${this.runDir}`, err);
    }
    try {
      const init = await this.#initAvailable();
      const codeSocketDir = spec.role === 'stem' ? (this.#codeOverHttp?.socketDir ?? null) : null;
      container = await this.#o.docker.createContainer(createOptions(spec, image, { ...this.#o, hostDir, init, codeSocketDir }));
      await container.start();
      this.#logs.track(spec.instanceId, spec.function, spec.version);
      const endpoint = await this.#endpointOf(container, spec.instanceId, mode);
      const started = container;
      // Nothing dials the socket before sock/ is sealed and the entry checked (socket-dir.ts).
      let pin: SocketPin | null = null;
      const admit = async () => (pin ??= await sealSocketDir(sockDir, uid)) !== null;
      await waitUntilHealthy({
        endpoint,
        timeoutMs: this.#o.startTimeoutMs,
        ...(signal ? { signal } : {}),
        ...(mode === 'unix' ? { wake: watchSocketDir(sockDir), admit } : {}),
        checkGone: async () => {
          const s = (await started.inspect()).State;
          if (s.Running) return null;
          return `exited with code ${s.ExitCode}${s.OOMKilled ? ' (out of memory)' : ''}`;
        },
      });
      const { instanceId, role, runtime, function: fn, version } = spec;
      const pinned: Endpoint = endpoint.kind === 'unix' && pin ? { ...endpoint, pin } : endpoint;
      return { instanceId, role, runtime, function: fn, version, endpoint: pinned, backendRef: container.id, startedAt: Date.now() };
    } catch (err) {
      if (err instanceof StratusError) throw err;
      await this.#logLastLines(container, spec.instanceId, err);
      await this.#remove(spec.instanceId, 0).catch((e: unknown) => this.#log.error('cleanup after a failed start failed', { instanceId: spec.instanceId, error: e as Error }));
      if (isStatus(err, 404) && /image/i.test((err as Error).message)) this.#images.forget(image);
      if (err instanceof NotHealthyError) {
        throw fail(describeNotHealthy(err, this.#o.startTimeoutMs), err);
      }
      throw fail('the container could not be created or started', err);
    }
  }

  async stageCode(instance: InstanceHandle, artifactDir: string): Promise<StagedCode> {
    if (this.#codeOverHttp && instance.function !== null && instance.version !== null) {
      const code = await this.#codeOverHttp.urls.issue(instance.function, instance.version, artifactDir);
      await recordSpecialized(this.runDir, instance);
      this.#logs.specialize(instance.instanceId, instance.function, instance.version);
      return code;
    }
    const codeDir = path.join(instanceDir(this.runDir, instance.instanceId), 'code');
    try {
      await fs.rm(codeDir, { recursive: true, force: true });
      await fs.mkdir(path.dirname(codeDir), { recursive: true });
      await linkTree(artifactDir, codeDir);
      await recordSpecialized(this.runDir, instance);
      if (instance.function !== null) this.#logs.specialize(instance.instanceId, instance.function, instance.version);
    } catch (err) {
      this.#log.error('staging code failed', { instanceId: instance.instanceId, artifactDir, error: err as Error });
      throw new StratusError('INSTANCE_START_FAILED', `could not stage the code into instance ${instance.instanceId}`, { instanceId: instance.instanceId }, { cause: err });
    }
    return { codeDir: CONTAINER_CODE_DIR };
  }

  async setLimits(instanceId: string, limits: ResourceLimits): Promise<void> {
    const bytes = limits.memoryMb * 1024 * 1024;
    try {
      await this.#o.docker.getContainer(containerName(instanceId)).update({ Memory: bytes, MemorySwap: bytes, ...(limits.cpus === null ? {} : { NanoCpus: nanoCpus(limits.cpus) }) });
    } catch (err) {
      this.#log.error('resource limit update failed', { instanceId, ...limits, error: err as Error });
      throw new StratusError('INSTANCE_START_FAILED', `could not set the limits of instance ${instanceId} (${limits.memoryMb} MB, cpus ${limits.cpus ?? 'uncapped'})`, { instanceId }, { cause: err });
    }
  }

  async stop(instanceId: string, opts?: { graceMs?: number }): Promise<void> {
    assertSafeInstanceId(instanceId);
    await this.#remove(instanceId, opts?.graceMs ?? this.#o.stopGraceMs);
  }

  async list(opts: { follow?: boolean } = {}): Promise<InstanceHandle[]> {
    const containers = await this.#o.docker.listContainers({ all: true, filters: { label: [`${LABEL.platform}=${this.#o.platformId}`] } });
    const handles: InstanceHandle[] = [];
    for (const c of containers) {
      let identity = identityFromLabels(c.Labels);
      if (!identity) continue;
      if (identity.role === 'stem') identity = { ...identity, ...(await readSpecialized(this.runDir, identity.instanceId)) };
      const published = c.Ports.find((p) => p.PrivatePort === CONTAINER_PORT && p.IP === '127.0.0.1' && p.PublicPort);
      let endpoint: Endpoint;
      if (c.Labels[LABEL.endpoint] === 'tcp') endpoint = { kind: 'tcp', host: '127.0.0.1', port: published?.PublicPort ?? 0 };
      else {
        const adopted = await this.#adoptSocket(identity.instanceId, c.State === 'running');
        if (adopted === false) continue;
        endpoint = adopted;
      }
      handles.push({ ...identity, endpoint, backendRef: c.Id, startedAt: c.Created * 1000 });
      // Found, not started: follow from now, since an earlier run collected what it wrote before.
      if (c.State === 'running' && opts.follow !== false) this.#logs.track(identity.instanceId, identity.function, identity.version, Date.now() / 1000);
    }
    // A container removed behind a killed platform's back leaves its dir (and socket tmpfs) behind.
    const kept = new Set(containers.map((c) => c.Labels[LABEL.instance] ?? ''));
    await sweepOrphanInstanceDirs(this.runDir, kept, this.#o.startTimeoutMs * 2, (dir, err) => this.#log.warn('could not remove an orphaned instance directory', { dir, error: err as Error }));
    return handles;
  }

  follow(instance: InstanceHandle): void {
    this.#logs.track(instance.instanceId, instance.function, instance.version, Date.now() / 1000);
  }

  async diagnose(instanceId: string): Promise<InstanceExit | null> {
    let state: Docker.ContainerInspectInfo['State'];
    try {
      state = (await this.#o.docker.getContainer(containerName(instanceId)).inspect()).State;
    } catch (err) {
      if (isStatus(err, 404)) return { instanceId, reason: 'killed', exitCode: null };
      throw err;
    }
    if (state.OOMKilled) return { instanceId, reason: 'oom', exitCode: state.ExitCode };
    if (state.Running) return null;
    return { instanceId, reason: 'exited', exitCode: state.ExitCode };
  }

  onExit(listener: (exit: InstanceExit) => void): () => void {
    this.#exitListeners.add(listener);
    this.#exitUnsubscribe ??= this.#events.subscribe((e) => void this.#onContainerEvent(e));
    return () => {
      this.#exitListeners.delete(listener);
    };
  }

  onLog(listener: (entry: InstanceLogLine) => void): () => void {
    return this.#logs.subscribe(listener);
  }

  /** Log streams open now: tests check that stop() and close() leave none. */
  get openLogStreams(): number {
    return this.#logs.openStreams;
  }

  /** Resolves once the events stream behind onExit() is connected. */
  eventsReady(): Promise<void> {
    return this.#events.ready();
  }

  protected override async doClose(): Promise<void> {
    this.#exitUnsubscribe?.();
    this.#exitUnsubscribe = null;
    this.#events.close();
    this.#logs.close();
    this.#exitListeners.clear();
  }

  async #onContainerEvent(e: ContainerEvent): Promise<void> {
    if (e.action === 'oom') {
      this.#oomSeen.add(e.instanceId);
      return;
    }
    if (this.#starting.has(e.instanceId) || this.#stopping.delete(e.instanceId) || this.#reported.has(e.instanceId)) return;
    remember(this.#reported, e.instanceId);
    let oom = this.#oomSeen.delete(e.instanceId);
    // The oom event is not guaranteed to arrive before die; a SIGKILL exit is checked against the record.
    if (!oom && e.exitCode === 137) oom = (await this.diagnose(e.instanceId).catch(() => null))?.reason === 'oom';
    const exit: InstanceExit = { instanceId: e.instanceId, reason: oom ? 'oom' : e.exitCode === 137 ? 'killed' : 'exited', exitCode: e.exitCode };
    for (const l of [...this.#exitListeners]) l(exit);
  }

  /**
   * The endpoint of a unix-mode container found after a restart: sealed again (a platform killed between
   * start and seal left it open) and checked like a fresh start. One that fails the check is removed,
   * not adopted: its function tampered with its socket.
   */
  async #adoptSocket(instanceId: string, running: boolean): Promise<Endpoint | false> {
    const socketPath = socketPathFor(this.runDir, instanceId);
    if (!running) return { kind: 'unix', socketPath };
    try {
      const pin = await sealSocketDir(path.dirname(socketPath), this.#o.functionUid);
      return pin ? { kind: 'unix', socketPath, pin } : { kind: 'unix', socketPath };
    } catch (err) {
      this.#log.warn('an instance found at start has an untrusted socket; removing it', { instanceId, error: err as Error });
      await this.#remove(instanceId, 0).catch(() => {});
      return false;
    }
  }

  #initAvailable(): Promise<boolean> {
    this.#init ??= this.#o.docker.info().then(
      (info: { InitBinary?: string; InitCommit?: { ID?: string } }) => Boolean(info.InitBinary) && info.InitCommit?.ID !== 'N/A',
      () => false,
    );
    return this.#init;
  }

  async #endpointOf(container: Docker.Container, instanceId: string, mode: EndpointMode): Promise<Endpoint> {
    if (mode === 'unix') return { kind: 'unix', socketPath: socketPathFor(this.runDir, instanceId) };
    const ports = (await container.inspect()).NetworkSettings.Ports[`${CONTAINER_PORT}/tcp`] ?? [];
    const binding = ports.find((p) => p.HostIp === '127.0.0.1');
    if (!binding) throw new Error('docker published no 127.0.0.1 port');
    return { kind: 'tcp', host: '127.0.0.1', port: Number(binding.HostPort) };
  }

  async #logLastLines(container: Docker.Container | null, instanceId: string, err: unknown): Promise<void> {
    let lines = '';
    if (container) {
      const buf = (await container.logs({ stdout: true, stderr: true, tail: 30, follow: false }).catch(() => null)) as Buffer | null;
      if (buf) lines = demuxLogs(buf).trimEnd();
    }
    if (lines) this.#startOutput.set(instanceId, lines.split('\n'));
    logStartFailure(this.#log, { instanceId, lastLogLines: lines }, err);
  }

  /** Stop (with a grace period), force-remove, delete the host dir; every step tolerates "already gone". */
  async #remove(instanceId: string, graceMs: number): Promise<void> {
    remember(this.#stopping, instanceId);
    const container = this.#o.docker.getContainer(containerName(instanceId));
    try {
      await container.stop({ t: Math.ceil(graceMs / 1000) });
    } catch (err) {
      if (!isStatus(err, 304, 404)) this.#log.warn('container stop failed', { instanceId, error: err as Error });
    }
    try {
      await container.remove({ force: true, v: true });
    } catch (err) {
      if (!isStatus(err, 404, 409)) throw err;
    } finally {
      this.#logs.untrack(instanceId);
    }
    await removeInstanceDir(this.runDir, instanceId);
  }
}
