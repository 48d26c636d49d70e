// Whether HAProxy serves the warm path (gateway/native/), and if so, everything it runs on: its config in a
// private directory, the per-call line reader, HAProxy itself as a supervised child, and the controller that
// programs it. Stratus then listens on the activator's unix socket in that directory, and HAProxy on the
// address the user configured (STRATUS_HOST:STRATUS_PORT): the platform's front door for API, dashboard and
// function URLs alike.
//
// STRATUS_DATA_PLANE=auto takes the native path when HAProxy is installed and the backend is Docker (its
// instances' sockets are sealed and pinned, which HAProxy can dial by path safely); otherwise it says loudly
// that warm calls go through Node. native asks for it: then a missing HAProxy or another backend is an error.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../../core/config.js';
import { HANDLER_GRACE_MS } from '../../core/invocation-contract.js';
import { listenOn } from '../../core/listen.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { MetricsRegistry } from '../../core/metrics.js';
import type { InvocationMetrics } from '../../core/ports/metrics.js';
import type { InvocationRecordSink } from '../../control/invocations/invocation-records.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { RouteTable } from '../../gateway/dataplane/route-table.js';
import { CallLineReader } from '../../gateway/native/call-lines.js';
import { FUNCTIONS_FRONTEND, nativeProxyFiles, renderHaproxyConfig } from '../../gateway/native/haproxy-config.js';
import { checkHaproxyConfig, findHaproxy, HaproxyProcess } from '../../gateway/native/haproxy-process.js';
import { HaproxyRuntime } from '../../gateway/native/haproxy-runtime.js';
import { NativePlane } from '../../gateway/native/native-plane.js';
import type { ShutdownStack } from '../shutdown.js';

/** The longest function timeout the platform accepts (core/function-config.ts): HAProxy's bound when a slot has none. */
const LONGEST_CALL_MS = 15 * 60_000 + HANDLER_GRACE_MS;
const DROPPED_LINES_CHECK_MS = 10_000;

export interface NativeFrontDoor {
  /** Where Stratus itself listens now: the activator's unix socket, reached only by HAProxy. */
  activatorSocket: string;
  /** The port HAProxy listens on (the user's STRATUS_PORT, or the free one taken for 0). */
  port: number;
  /** After the platform's listener is up: start HAProxy and the controller, follow instances and routes. */
  start(parts: { scheduler: Scheduler; routes: RouteTable; records: InvocationRecordSink; metrics: InvocationMetrics; registry: MetricsRegistry; clock: Clock }): Promise<void>;
}

/** Decides the data plane; null: Stratus serves every call itself (said at start). */
export async function openNativePlane(config: Config, backendKind: string, logger: Logger, shutdown: ShutdownStack): Promise<NativeFrontDoor | null> {
  const asked = config.dataPlane.kind;
  if (asked === 'node') return null;
  const log = logger.child({ component: 'native-plane' });
  const binary = findHaproxy(config.store.hostPath);
  const why = binary === null ? 'HAProxy is not installed (bash scripts/services.sh installs it)' : backendKind !== 'docker' ? `the ${backendKind} backend's instances are not sealed unix sockets HAProxy may dial` : null;
  if (why !== null) {
    if (asked === 'native') throw new Error(`STRATUS_DATA_PLANE=native, but ${why}`);
    logger.warn(`*** warm calls go through Stratus's Node proxy, not the native data plane: ${why} (STRATUS_DATA_PLANE=node says you chose it) ***`);
    return null;
  }
  const dir = path.join(path.resolve(config.stateDir), 'native');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700); // the config holds the line token; the activator's socket trusts its peers
  const files = nativeProxyFiles(dir);
  const activatorSocket = path.join(dir, 'activator.sock');
  await fs.rm(activatorSocket, { force: true });
  const host = config.host === 'localhost' ? '127.0.0.1' : config.host;
  if (host !== '127.0.0.1' && host !== '::1') {
    // The config takes loopback only today; a public bind is the load balancer's (scripts/lb.sh).
    if (asked === 'native') throw new Error(`STRATUS_DATA_PLANE=native listens on loopback only; STRATUS_HOST is ${config.host}`);
    logger.warn(`*** warm calls go through Stratus's Node proxy: the native data plane binds loopback only and STRATUS_HOST is ${config.host} ***`);
    return null;
  }
  await stopLeftover(files.pidFile, files.config, log);
  // HAProxy binds the port itself; a port in use is said now as the setting to change, not as HAProxy's start error.
  const port = config.port === 0 ? await freePort(host) : await portFree(host, config.port);
  const token = randomBytes(24).toString('hex');
  let plane: NativePlane | null = null;
  const reader = await CallLineReader.open({ host: '127.0.0.1', token, onLine: (line) => plane?.onLine(line) });
  shutdown.add('state', 'native call lines', () => reader.close());
  await fs.writeFile(files.config, renderHaproxyConfig({
    dir, listen: { host, port }, activator: { socketPath: activatorSocket }, slots: config.dataPlane.slots,
    functionsDomain: config.functions.domain, callLines: { host: '127.0.0.1', port: reader.port }, lineToken: token, callTimeoutMs: LONGEST_CALL_MS,
  }), { mode: 0o600 });
  for (const map of [files.routes, files.timeouts]) await fs.writeFile(map, '', { mode: 0o600 });
  await checkHaproxyConfig(binary!, files.config);

  return {
    activatorSocket,
    port,
    async start(parts) {
      const runtime = new HaproxyRuntime(files.runtimeSocket);
      const native = new NativePlane({
        runtime, maps: { routes: files.routes, timeouts: files.timeouts }, slots: config.dataPlane.slots,
        outcome: (id, outcome) => parts.scheduler.routedOutcome?.(id, outcome),
        records: parts.records, metrics: parts.metrics, clock: parts.clock, logger: log,
      });
      plane = native;
      const haproxy = new HaproxyProcess({ binary: binary!, configPath: files.config, runtimeSocket: files.runtimeSocket, logger: log, onRestart: () => native.replay() });
      await haproxy.start();
      // Stopped first of all (registered last in its phase): a soft stop lets the calls under way end, the
      // activator's included, before Stratus's own listener closes behind it.
      shutdown.add('intake', 'native proxy (HAProxy)', () => haproxy.stop(config.stopTimeoutMs / 2));
      shutdown.add('state', 'native plane', () => native.close());
      native.start();
      parts.scheduler.attachRouter?.(native);
      const unfollow = parts.routes.onRoute((name, route) => native.onRoute(name, route));
      shutdown.add('intake', 'native routes', unfollow);
      for (const [name, route] of parts.routes.routes()) await native.onRoute(name, route);
      const lost = watchDroppedLines(runtime, reader, log, shutdown);
      // The lines' own accounting, for an operator: what arrived, what was refused, what HAProxy counted but never came.
      const lines = parts.registry.gauge('stratus_native_call_lines', 'Per-call lines of the native data plane since start, by what became of them.', ['kind']);
      parts.registry.collect(() => {
        lines.set({ kind: 'received' }, reader.received);
        lines.set({ kind: 'forged' }, reader.forged);
        lines.set({ kind: 'malformed' }, reader.malformed);
        lines.set({ kind: 'lost' }, lost());
        lines.set({ kind: 'unattributed' }, native.unattributed);
      });
      logger.info(`warm calls are served by HAProxy (the native data plane), Stratus activates the rest: ${config.dataPlane.slots} slots, call lines on udp 127.0.0.1:${reader.port} (${reader.receiveBufferBytes} bytes of queue)`);
    },
  };
}

/**
 * Lines lost on the way (a full socket queue), counted against HAProxy's own count of calls and said. Each
 * check compares the calls HAProxy had counted at the check before with the lines read by now: a line still
 * on its way at that moment has had a whole interval to arrive.
 */
function watchDroppedLines(runtime: HaproxyRuntime, reader: CallLineReader, log: Logger, shutdown: ShutdownStack): () => number {
  let told = 0;
  let before = 0; // calls of processes that ran before a restart (HAProxy's count starts again at 0)
  let last = 0;
  let counted = 0;
  const timer = setInterval(() => {
    const dropped = reader.dropped(counted);
    if (dropped > told) log.warn('per-call lines were lost: those calls have no invocation record', { dropped, calls: counted, received: reader.received });
    told = Math.max(told, dropped);
    void runtime.requestsReceived(FUNCTIONS_FRONTEND).then((calls) => {
      if (calls < last) before += last;
      last = calls;
      counted = before + calls;
    }, () => {});
  }, DROPPED_LINES_CHECK_MS);
  timer.unref();
  shutdown.add('intake', 'native line count', () => clearInterval(timer));
  return () => told;
}

/**
 * An HAProxy an earlier run of this state dir left (Stratus was killed: its child outlives it, holding the
 * port): stopped, if the pid file names a haproxy process running this very config.
 */
async function stopLeftover(pidFile: string, configPath: string, log: Logger): Promise<void> {
  const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  const cmdline = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  if (!cmdline.some((a) => a.endsWith('haproxy')) || !cmdline.includes(configPath)) return;
  log.warn('stopping the HAProxy an earlier run left behind', { pid });
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50 && (await fs.access(`/proc/${pid}`).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
}

/** `port` if it can be bound on `host` now; the setting's own error (listenOn's) if not. */
async function portFree(host: string, port: number): Promise<number> {
  const probe = http.createServer();
  await listenOn(probe, port, host, 'STRATUS_PORT');
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A free port on `host` now (STRATUS_PORT=0: HAProxy needs a number in its config). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
