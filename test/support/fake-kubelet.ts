// A kubelet stand-in for the fake API server: it "runs" a pod by starting the real Node runtime
// (runtime-images/node/runtime.mjs) on the host with the pod's env, and writes the pod status as a
// kubelet does: Pending (ContainerCreating) → Running with a pod IP → Ready once /healthz answers 200 (the
// pod's readinessProbe) → Failed/Succeeded with containerStatuses[].state.terminated when the process ends.
//
// There is no pod network here, so the pod IP reported is 127.0.0.1 and each pod gets its own port:
// the runtime listens on a unix socket (a TCP runtime would bind 0.0.0.0) and a relay serves it on
// 127.0.0.1:<port>. The backend under test maps a pod to that port with its endpointFor option.
// "Images" are a map from image name to a code directory; an unknown image is an ErrImagePull. A stem pod
// (STRATUS_STEM=1 in its env, a runtime image) loads no code at start; at POST /init it fetches its code from
// the URL it is given, which here is Stratus on 127.0.0.1 (on a cluster: the gateway Service).
// What the container writes (stdout and stderr, one stream as the CRI log keeps it) is kept line by line with
// the kubelet's timestamp and served by the API server's pod log endpoint (containerLog).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { V1ContainerStatus, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { Endpoint } from '../../scheduler/backends/backend.js';
import { probeHealth } from '../../scheduler/backends/health.js';
import type { ContainerLog, ContainerLogLine, FakeKubeApi, FakeKubeletHooks } from './fake-kube-api.js';

const RUNTIME = path.resolve('runtime-images/node/runtime.mjs');

interface RunningPod {
  ns: string;
  name: string;
  proc: ChildProcess | null;
  relay: net.Server | null;
  connections: Set<net.Socket>;
  port: number;
  exited: Promise<void>;
  oom: boolean;
  deleting: boolean;
  startedAt: string;
  log: ContainerLogLine[];
  logFollowers: Set<(line: ContainerLogLine | null) => void>;
  running: boolean;
}

/** RFC 3339 with nanoseconds, as the kubelet stamps CRI log lines (the clock here has milliseconds). */
function nanoTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export interface FakeKubeletOptions {
  /**
   * A pod network on loopback: each pod gets its own IP in 127.1.0.0/16 and is served on podIP:8080, as on a
   * cluster, so a Stratus process reaches pods with no endpointFor hook (the default: 127.0.0.1, a port per pod).
   */
  podNetwork?: boolean;
  /** An image the map does not name: its code tree (e.g. copied out of a real image), or null (ErrImagePull). */
  pull?: (image: string) => Promise<string | null>;
}

export class FakeKubelet implements FakeKubeletHooks {
  readonly #pods = new Map<string, RunningPod>();
  readonly #dir = mkdtempSync(path.join(os.tmpdir(), 'stratus-kubelet-'));
  #nextIp = 0;
  /** Pods for which this returns true are left Pending (never scheduled): start timeouts. */
  holdPending: (pod: V1Pod) => boolean = () => false;

  constructor(
    private readonly api: FakeKubeApi,
    private readonly images: Record<string, string>,
    private readonly options: FakeKubeletOptions = {},
  ) {
    api.kubelet = this;
  }

  /** The endpointFor hook of the backend: the relay port of the pod. */
  readonly endpointFor = ({ name, podIP }: { name: string; podIP: string }): Endpoint => {
    const port = [...this.#pods.values()].find((p) => p.name === name)?.port ?? 0;
    return { kind: 'tcp', host: podIP === '127.0.0.1' ? podIP : '127.0.0.1', port };
  };

  podCreated(pod: V1Pod): void {
    if (this.holdPending(pod)) {
      const unschedulable = { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient memory.' };
      this.api.setStatus(pod.metadata!.namespace!, pod.metadata!.name!, { phase: 'Pending', conditions: [unschedulable] });
      return;
    }
    void this.#run(pod);
  }

  async podDeleting(pod: V1Pod, graceSeconds: number): Promise<void> {
    const run = this.#pods.get(this.#key(pod));
    if (!run) return;
    run.deleting = true;
    if (run.proc && run.proc.exitCode === null && run.proc.signalCode === null) {
      run.proc.kill(graceSeconds > 0 ? 'SIGTERM' : 'SIGKILL');
      const killed = await Promise.race([run.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), graceSeconds * 1000).unref())]);
      if (!killed) run.proc.kill('SIGKILL');
      await run.exited;
    }
    await this.#forget(run);
  }

  /** What the kernel's OOM killer and then the kubelet do: SIGKILL, then terminated reason OOMKilled. */
  oomKill(namespace: string, name: string): void {
    const run = this.#pods.get(`${namespace}/${name}`);
    if (!run?.proc) throw new Error(`pod ${name} is not running`);
    run.oom = true;
    run.proc.kill('SIGKILL');
  }

  containerLog(namespace: string, name: string): ContainerLog | null {
    const run = this.#pods.get(`${namespace}/${name}`);
    if (!run?.proc) return null;
    return {
      lines: [...run.log],
      running: run.running,
      follow: (listener) => {
        run.logFollowers.add(listener);
        return () => run.logFollowers.delete(listener);
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pods.values()].map(async (run) => {
      run.proc?.kill('SIGKILL');
      await run.exited;
      await this.#forget(run);
    }));
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #key(pod: V1Pod): string {
    return `${pod.metadata!.namespace}/${pod.metadata!.name}`;
  }

  #status(run: RunningPod, patch: Partial<V1PodStatus>, container: V1ContainerStatus['state'], ready = false): void {
    const c = (type: string, ok: boolean) => ({ type, status: ok ? 'True' : 'False' });
    this.api.setStatus(run.ns, run.name, {
      qosClass: 'Guaranteed',
      conditions: [c('PodScheduled', true), c('Initialized', true), c('ContainersReady', ready), c('Ready', ready)],
      containerStatuses: [{ name: 'function', image: '', imageID: '', restartCount: 0, ready, started: Boolean(container?.running), state: container }],
      ...patch,
    } as V1PodStatus);
  }

  async #run(pod: V1Pod): Promise<void> {
    const container = pod.spec!.containers[0]!;
    const run: RunningPod = { ns: pod.metadata!.namespace!, name: pod.metadata!.name!, proc: null, relay: null, connections: new Set(), port: 0, exited: Promise.resolve(), oom: false, deleting: false, startedAt: new Date().toISOString(), log: [], logFollowers: new Set(), running: false };
    this.#pods.set(this.#key(pod), run);
    const codeDir = this.images[container.image ?? ''] ?? (await this.options.pull?.(container.image ?? '').catch(() => null)) ?? null;
    if (!codeDir) {
      const message = `failed to pull and unpack image "${container.image}": not found`;
      this.#status(run, { phase: 'Pending' }, { waiting: { reason: 'ErrImagePull', message } });
      return;
    }
    this.#status(run, { phase: 'Pending' }, { waiting: { reason: 'ContainerCreating' } });
    const socketPath = path.join(this.#dir, `${run.name}.sock`);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    for (const e of container.env ?? []) env[e.name] = e.value ?? '';
    Object.assign(env, { STRATUS_SOCKET: socketPath, STRATUS_CODE_DIR: codeDir });
    const proc = spawn(process.execPath, [RUNTIME], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    run.proc = proc;
    run.running = true;
    const outputs = [proc.stdout!, proc.stderr!].map((stream) => this.#collect(run, stream));
    run.exited = new Promise((resolve) => proc.once('exit', (code, signal) => {
      // The container's log is complete once both pipes are drained: then a follow ends.
      void Promise.all(outputs).then(() => {
        run.running = false;
        for (const f of [...run.logFollowers]) f(null);
        run.logFollowers.clear();
      });
      this.#exited(run, code, signal);
      resolve();
    }));
    run.relay = net.createServer((client) => {
      const upstream = net.connect(socketPath);
      run.connections.add(client).add(upstream);
      client.on('close', () => run.connections.delete(client));
      upstream.on('close', () => run.connections.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    const n = ++this.#nextIp;
    const podIP = this.options.podNetwork ? `127.1.${n >> 8}.${n & 255}` : '127.0.0.1';
    await new Promise<void>((resolve) => run.relay!.listen(this.options.podNetwork ? 8080 : 0, podIP, resolve));
    run.port = (run.relay.address() as net.AddressInfo).port;
    if (run.deleting) return this.#forget(run); // deleted while the relay was opening: podDeleting missed it
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const running = { running: { startedAt: new Date(run.startedAt) } };
    this.#status(run, { phase: 'Running', podIP, podIPs: [{ ip: podIP }], hostIP: '127.0.0.1', startTime: new Date(run.startedAt) }, running);
    // The readinessProbe: /healthz until 200, then Ready=True.
    const endpoint: Endpoint = { kind: 'tcp', host: podIP, port: run.port };
    while (!run.deleting && proc.exitCode === null && proc.signalCode === null) {
      if ((await probeHealth(endpoint, 500)) === 200) {
        this.#status(run, { phase: 'Running', podIP, podIPs: [{ ip: podIP }], hostIP: '127.0.0.1', startTime: new Date(run.startedAt) }, running, true);
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Lines of one output pipe into the pod's log; resolves when the pipe ends. */
  #collect(run: RunningPod, stream: NodeJS.ReadableStream): Promise<void> {
    let partial = '';
    const add = (text: string) => {
      const line = { time: nanoTime(), text };
      run.log.push(line);
      for (const f of [...run.logFollowers]) f(line);
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const p of parts) add(p);
    });
    return new Promise((resolve) => stream.once('close', () => {
      if (partial) add(partial);
      resolve();
    }));
  }

  #exited(run: RunningPod, code: number | null, signal: NodeJS.Signals | null): void {
    const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 143);
    const reason = run.oom ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error';
    const terminated = { terminated: { exitCode, reason, startedAt: new Date(run.startedAt), finishedAt: new Date() } };
    this.#status(run, { phase: exitCode === 0 ? 'Succeeded' : 'Failed', hostIP: '127.0.0.1', startTime: new Date(run.startedAt) }, terminated);
  }

  async #forget(run: RunningPod): Promise<void> {
    this.#pods.delete(`${run.ns}/${run.name}`);
    for (const s of run.connections) s.destroy();
    if (run.relay?.listening) await new Promise<void>((resolve) => run.relay!.close(() => resolve()));
    rmSync(path.join(this.#dir, `${run.name}.sock`), { force: true });
  }
}
