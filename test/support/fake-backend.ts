// A Backend for unit tests whose instances are real tiny HTTP servers on unix sockets in a temp dir, so
// keep-alive agents, POST /init and GET /healthz are exercised for real. Tests control start delay
// (holdStarts), start failures, the /init answer, request duration (holdRequests) and exits (kill).

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { StratusError } from '../../core/errors.js';
import type { Backend, InstanceExit, InstanceHandle, InstanceSpec, ResourceLimits, StagedCode } from '../../scheduler/backends/backend.js';

export interface FakeInstance {
  handle: InstanceHandle;
  spec: InstanceSpec;
  server: http.Server;
  init: Record<string, unknown> | null;
  /** Requests being answered right now (invocations only). */
  active: number;
  healthy: boolean;
}

export class FakeBackend implements Backend {
  readonly kind = 'process' as const;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-fake-'));
  readonly running = new Map<string, FakeInstance>();
  readonly starts: InstanceSpec[] = [];
  readonly stops: string[] = [];
  readonly staged: { instanceId: string; artifactDir: string }[] = [];
  readonly memoryLimits: { instanceId: string; memoryMb: number }[] = [];
  readonly cpuLimits: { instanceId: string; cpus: number | null }[] = [];
  readonly exits = new Map<string, InstanceExit>();
  /** Status POST /init answers on stems. */
  initStatus = 200;
  /** The next n starts fail. */
  failStarts = 0;
  #startGate: Promise<void> | null = null;
  #requestGate: Promise<void> | null = null;
  #listeners = new Set<(e: InstanceExit) => void>();
  #seq = 0;

  /** Starts wait until the returned function is called. */
  holdStarts(): () => void {
    let open!: () => void;
    this.#startGate = new Promise<void>((r) => (open = r));
    return () => {
      this.#startGate = null;
      open();
    };
  }

  /** Invocations wait until the returned function is called. */
  holdRequests(): () => void {
    let open!: () => void;
    this.#requestGate = new Promise<void>((r) => (open = r));
    return () => {
      this.#requestGate = null;
      open();
    };
  }

  byRole(role: 'function' | 'stem'): FakeInstance[] {
    return [...this.running.values()].filter((i) => i.spec.role === role);
  }

  async start(spec: InstanceSpec, signal?: AbortSignal): Promise<InstanceHandle> {
    this.starts.push(spec);
    if (this.#startGate) {
      const gate = this.#startGate;
      await new Promise<void>((resolve, reject) => {
        void gate.then(resolve);
        signal?.addEventListener('abort', () => reject(new StratusError('INSTANCE_START_FAILED', 'start aborted')), { once: true });
      });
    }
    if (this.failStarts > 0) {
      this.failStarts--;
      throw new StratusError('INSTANCE_START_FAILED', `fake start of ${spec.instanceId} failed`);
    }
    const socketPath = path.join(this.dir, `${++this.#seq}.sock`);
    const handle: InstanceHandle = {
      instanceId: spec.instanceId,
      role: spec.role,
      runtime: spec.runtime,
      function: spec.function,
      version: spec.version,
      endpoint: { kind: 'unix', socketPath },
      backendRef: `fake-${this.#seq}`,
      startedAt: Date.now(),
    };
    const inst: FakeInstance = { handle, spec, server: http.createServer(), init: null, active: 0, healthy: true };
    inst.server.on('request', (req, res) => void this.#serve(inst, req, res));
    await new Promise<void>((r) => inst.server.listen(socketPath, r));
    this.running.set(spec.instanceId, inst);
    return handle;
  }

  async #serve(inst: FakeInstance, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.url === '/healthz') {
      if (!inst.healthy) return; // never answers: the health check times out
      res.end('ok');
      return;
    }
    if (req.method === 'POST' && req.url === '/init') {
      if (inst.init !== null) return void res.writeHead(409).end('already initialized');
      if (this.initStatus !== 200) return void res.writeHead(this.initStatus).end('cannot load the handler');
      inst.init = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      res.end('{}');
      return;
    }
    inst.active++;
    if (this.#requestGate) await this.#requestGate;
    inst.active--;
    const fn = inst.init?.function ?? inst.spec.function;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ instance: inst.spec.instanceId, function: fn, path: req.url }));
  }

  async stageCode(instance: InstanceHandle, artifactDir: string): Promise<StagedCode> {
    this.staged.push({ instanceId: instance.instanceId, artifactDir });
    return { codeDir: '/code' };
  }

  async setLimits(instanceId: string, limits: ResourceLimits): Promise<void> {
    this.memoryLimits.push({ instanceId, memoryMb: limits.memoryMb });
    this.cpuLimits.push({ instanceId, cpus: limits.cpus });
  }

  async stop(instanceId: string): Promise<void> {
    this.stops.push(instanceId);
    const inst = this.running.get(instanceId);
    if (!inst) return;
    this.running.delete(instanceId);
    inst.server.closeAllConnections();
    await new Promise<void>((r) => inst.server.close(() => r()));
  }

  /** The instance dies on its own: its server goes away and onExit listeners hear about it. */
  async kill(instanceId: string, reason: InstanceExit['reason'] = 'killed'): Promise<void> {
    const inst = this.running.get(instanceId);
    if (!inst) throw new Error(`no running fake instance ${instanceId}`);
    this.running.delete(instanceId);
    inst.server.closeAllConnections();
    await new Promise<void>((r) => inst.server.close(() => r()));
    const exit: InstanceExit = { instanceId, reason, exitCode: reason === 'oom' ? 137 : 1 };
    this.exits.set(instanceId, exit);
    for (const l of this.#listeners) l(exit);
  }

  async list(): Promise<InstanceHandle[]> {
    return [...this.running.values()].map((i) => i.handle);
  }

  async diagnose(instanceId: string): Promise<InstanceExit | null> {
    return this.exits.get(instanceId) ?? null;
  }

  onExit(listener: (exit: InstanceExit) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.stop(id)));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Send one request through a lease, as the gateway's proxy does; resolves with the JSON body. */
export function invokeThrough(lease: { agent: http.Agent; requestOptions: { socketPath: string } | { host: string; port: number } }, urlPath = '/'): Promise<{ status: number; body: { instance: string; function: string } }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...lease.requestOptions, agent: lease.agent, path: urlPath, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { instance: string; function: string } }));
    });
    req.on('error', reject);
    req.end();
  });
}
