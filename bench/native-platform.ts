// Issue 20's targets on the real platform, side by side in one run (`npm run bench -- --only native-platform`):
// a platform child started with STRATUS_DATA_PLANE=native (HAProxy on its port, Stratus on the activator's
// unix socket), one trivial Node function with one instance (minInstances = maxInstances = 1, concurrency 64),
// and that ONE instance's unix socket called four ways, in alternating rounds:
//   native   the function URL /fn/NAME/ on the platform's port: HAProxy as Stratus programmed it (the slot the
//            routes map names, the instance added as a server); the rounds check it served from the slot
//   nginx    a throwaway nginx (keepalive upstream, no access log; bench/native-path.ts's config) in front of
//            the instance's socket, when nginx is installed
//   direct   the instance's socket itself
//   node     Stratus's Node path: /fn/NAME/ sent straight to the activator's socket (<stateDir>/native/
//            activator.sock), which HAProxy would hand a call it does not serve — the same instance, no HAProxy
// The instance is found through HAProxy's runtime API (the slot the routes map names for the function, its one
// server, named by the scheduler's instance id); HAProxy 2.6 does not say a unix server's path, so the socket is
// the Docker backend's path for that id under the platform's state dir (never a bridge address).
// Load: bench/http-load.ts (a Node client on the same cores), c=1 and c=32; medians of the rounds.
//
// Then the accounting, from the same run: calls HAProxy's `functions` frontend counted during the rounds, plus
// the calls the client sent to the activator's socket, against the requests the platform metered for the
// function (GET /v1/usage) once they settle — lines lost = calls − records; and on two small batches, one per
// path, each call's request id looked up among the function's invocation records and the usage's MB·ms
// compared with Σ billedMs × memoryMb of those records. Figures are reported, never asserted.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { FUNCTIONS_FRONTEND, nativeProxyFiles } from '../gateway/native/haproxy-config.js';
import { HaproxyRuntime, type StatRow } from '../gateway/native/haproxy-runtime.js';
import { chooseRunDir, socketPathFor } from '../scheduler/backends/instance-dir.js';
import { docker } from './docker.js';
import { newAgent, runLoad, type Target } from './http-load.js';
import { startNginx } from './native-path.js';
import type { Platform } from './platform.js';
import { ms, sleep, summarize, waitFor } from './stats.js';

export interface NativePlatformOptions {
  rounds: number;
  roundMs: number;
  warmupMs: number;
  /** Calls per path in the metering batches (each call's record looked up by its request id). */
  batch: number;
}

export interface PlatformPathSide {
  /** Median over the rounds of each round's p50 at c=1, ms. */
  c1P50Ms: number;
  /** Median over the rounds of req/s at c=32. */
  c32Rps: number;
  c1P50PerRound: number[];
  c32RpsPerRound: number[];
  errors: number;
  errorStatuses: Record<string, number>;
  /** CPU per call over the c=32 rounds, µs, by process (what this side made each one spend): null where unread. */
  cpuUsPerCallC32: Record<CpuPart, number | null>;
}

type CpuPart = 'client' | 'stratus' | 'haproxy' | 'nginx' | 'instance';

export interface MeteringBatch {
  path: 'native' | 'node';
  calls: number;
  /** Calls whose request id came back on the answer. */
  withId: number;
  /** Of those, ids found among the function's invocation records. */
  withRecord: number;
  /** Δ of GET /v1/usage?function=NAME over the batch. */
  usageRequests: number;
  usageMbMs: number;
  /** Σ ceil(billedMs) × ceil(memoryMb) over the batch's records (what core/store/usage.ts meters). */
  recordsMbMs: number;
  memoryMb: number[];
}

export interface NativePlatformResult {
  rounds: number;
  roundMs: number;
  /** What each side is (the report's table prints it). */
  what: Record<string, string>;
  instance: { id: string; slot: string; socketPath: string; address: string };
  sides: Record<string, PlatformPathSide>;
  missing: string[];
  /** Over the rounds (warm-ups included). */
  accounting: {
    /** HAProxy's functions frontend: req_tot Δ. */
    nativeCalls: number;
    /** Of them, what the function's slot backend and the activator backend served (stot Δ). */
    servedBySlot: number;
    toActivator: number;
    /** Calls the client sent to the activator's socket (the node side). */
    nodeCalls: number;
    /** Δ of the function's metered requests (GET /v1/usage), once settled. */
    records: number;
    /** nativeCalls + nodeCalls − records. */
    lost: number;
    settleMs: number;
  };
  metering: MeteringBatch[];
}

interface UsageTotals {
  requests: number;
  mbMs: number;
}

async function usage(p: Platform, name: string): Promise<UsageTotals> {
  const u = await p.api<{ total: { requests: number; mbMs: number } }>('GET', `/v1/usage?function=${name}`);
  return { requests: u.total.requests, mbMs: Number(u.total.mbMs) };
}

/** stot of a backend (its BACKEND row) in `show stat`. */
function served(rows: StatRow[], backend: string): number {
  return Number(rows.find((r) => r.pxname === backend && r.svname === 'BACKEND')?.stot ?? NaN);
}

/** One GET on a fresh connection of `agent`: its status and the request id the answer carries. */
function call(agent: http.Agent, t: Target): Promise<{ status: number; id: string | null }> {
  return new Promise((resolve) => {
    const req = http.request({ ...t.address, agent, path: t.path, method: 'GET', timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => {
        const id = res.headers['x-stratus-request-id'];
        resolve({ status: res.statusCode ?? 0, id: typeof id === 'string' ? id : null });
      });
      res.on('error', () => resolve({ status: 0, id: null }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, id: null }));
    req.end();
  });
}

const TICK_MS = 10; // USER_HZ = 100 on Linux

/** utime + stime of a process (all its threads), ms; null when it is gone. */
function processCpuMs(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return null;
  }
}

/** A process and its children (nginx: the master and its workers), ms. */
function treeCpuMs(pid: number): number | null {
  const own = processCpuMs(pid);
  if (own === null) return null;
  let sum = own;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) sum += processCpuMs(Number(d)) ?? 0;
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}

/** The CPU a container used, ms (cgroup v1 cpuacct, or v2 cpu.stat); null when neither is readable. */
function containerCpuMs(id: string): number | null {
  for (const f of [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, `/sys/fs/cgroup/docker/${id}/cpu.stat`, `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`]) {
    try {
      const text = fs.readFileSync(f, 'utf8');
      if (f.endsWith('cpuacct.usage')) return Number(text.trim()) / 1e6;
      const usec = /usage_usec (\d+)/.exec(text);
      if (usec) return Number(usec[1]) / 1000;
    } catch {
      // not this layout
    }
  }
  return null;
}

/** The container whose bind mounts include the instance's directory (how bench/platform.ts finds the platform's). */
async function containerOf(instanceDir: string): Promise<string | null> {
  const ids = (await docker(['ps', '-q', '--no-trunc', '--filter', 'label=dev.stratus.platform']).catch(() => '')).split('\n').filter(Boolean);
  for (const id of ids) {
    const mounts = await docker(['inspect', '-f', '{{range .Mounts}}{{.Source}} {{end}}', id]).catch(() => '');
    if (mounts.split(' ').some((m) => m === instanceDir || m.startsWith(instanceDir + '/'))) return id;
  }
  return null;
}

type CpuReaders = Record<CpuPart, () => number | null>;
const readAll = (r: CpuReaders) => Object.fromEntries(Object.entries(r).map(([k, f]) => [k, f()])) as Record<CpuPart, number | null>;

/** Polls the function's metered totals until they reach `want` requests or stop moving for 2 s (at most 20 s). */
async function settle(p: Platform, name: string, want: number): Promise<{ totals: UsageTotals; ms: number }> {
  const t0 = Date.now();
  let last = await usage(p, name);
  let still = Date.now();
  while (last.requests < want && Date.now() - still < 2000 && Date.now() - t0 < 20_000) {
    await sleep(200);
    const u = await usage(p, name);
    if (u.requests !== last.requests) still = Date.now();
    last = u;
  }
  return { totals: last, ms: Date.now() - t0 };
}

export async function nativeOnPlatform(p: Platform, name: string, o: NativePlatformOptions, log: (s: string) => void): Promise<NativePlatformResult> {
  const dir = path.join(p.stateDir, 'native');
  const files = nativeProxyFiles(dir);
  const activatorSocket = path.join(dir, 'activator.sock');
  if (!fs.existsSync(files.runtimeSocket) || !fs.existsSync(activatorSocket)) throw new Error(`the platform has no native data plane (no ${files.runtimeSocket}); was it started with STRATUS_DATA_PLANE=native?`);
  const runtime = new HaproxyRuntime(files.runtimeSocket);

  const instance = await waitFor('one ready instance', async () => {
    const all = await p.instances(name);
    return all.length === 1 && all[0]!.state === 'ready' ? all[0]! : undefined;
  }, 120_000, 100);
  // The slot HAProxy routes the function to, and the instance's socket as HAProxy dials it.
  const slot = await waitFor(`HAProxy's route for ${name}`, async () => (await runtime.showMap(files.routes)).get(name), 30_000, 100);
  const server = (await runtime.showServersState(slot)).find((s) => s.server === instance.id);
  if (!server) throw new Error(`HAProxy's ${slot} has no server named ${instance.id} (the scheduler's instance)`);
  // HAProxy 2.6 names no unix server's path on its runtime API (srv_addr "-" in show servers state and show
  // servers conn, addr "unix" in show stat): the path is the Docker backend's for that instance id
  // (scheduler/backends/instance-dir.ts), the layout the platform itself dials and gave HAProxy.
  const socketPath = server.address.startsWith('unix@') ? server.address.slice(5) : socketPathFor(chooseRunDir(path.join(p.stateDir, 'run')), instance.id);
  if (!fs.statSync(socketPath, { throwIfNoEntry: false })?.isSocket()) throw new Error(`no unix socket at ${socketPath} for ${slot}/${server.server} (HAProxy's address: "${server.address}")`);
  log(`  instance ${instance.id} in ${slot}: ${socketPath}`);

  const targets: Record<string, Target> = {
    native: { address: p.address, path: `/fn/${name}/` },
    direct: { address: { socketPath }, path: '/' },
    node: { address: { socketPath: activatorSocket }, path: `/fn/${name}/` },
  };
  const what: Record<string, string> = {
    native: `the function URL on the platform's port: HAProxy as Stratus programmed it (${slot}, the instance as a server)`,
    nginx: 'nginx 1.22 in front of the instance\'s socket (keepalive upstream, no access log)',
    direct: 'the instance\'s unix socket, no proxy',
    node: 'Stratus\'s Node path: /fn/NAME/ on the activator\'s unix socket (no HAProxy), to the same instance',
  };
  const missing: string[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-native-platform-'));
  const children: ChildProcess[] = [];
  try {
    const nginx = await startNginx(tmp, socketPath, children);
    if (nginx) targets.nginx = { address: nginx, path: '/' };
    else missing.push('nginx: not installed (bash scripts/services.sh nginx installs it)');
    // HAProxy runs in the foreground as the platform's child (no pid file): its own `show info` says its pid.
    const haproxyPid = Number((await runtime.showInfo()).get('Pid'));
    const container = await containerOf(path.dirname(path.dirname(socketPath)));
    const nginxPid = children[0]?.pid;
    const readers: CpuReaders = {
      client: () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; },
      stratus: () => processCpuMs(p.pid),
      haproxy: () => (Number.isInteger(haproxyPid) ? processCpuMs(haproxyPid) : null),
      nginx: () => (nginxPid === undefined ? null : treeCpuMs(nginxPid)),
      instance: () => (container === null ? null : containerCpuMs(container)),
    };
    const uFirst = await usage(p, name);
    for (const [n, t] of Object.entries(targets)) {
      const a = await call(new http.Agent(), t);
      if (a.status !== 200) throw new Error(`${n} answered ${a.status} to a first call`);
    }

    const names = ['native', 'nginx', 'direct', 'node'].filter((n) => targets[n]);
    const seen = Object.fromEntries(names.map((n) => [n, { p50: [] as number[], rps: [] as number[], errors: 0, errorStatuses: {} as Record<string, number>, cpu: {} as Record<string, number | null>, calls32: 0 }]));
    // The first calls of native and node are records too: settled before the count starts.
    const u0 = (await settle(p, name, uFirst.requests + 2)).totals;
    const stat0 = await runtime.showStat();
    const req0 = await runtime.requestsReceived(FUNCTIONS_FRONTEND);
    let nodeCalls = 0;
    for (let r = 0; r < o.rounds; r++) {
      for (const concurrency of [1, 32]) {
        for (const n of r % 2 === 0 ? names : [...names].reverse()) {
          const agent = newAgent(concurrency);
          try {
            const warm = await runLoad(targets[n]!, { concurrency, durationMs: o.warmupMs, maxRequests: 1_000_000 }, agent);
            const cpu0 = readAll(readers);
            const res = await runLoad(targets[n]!, { concurrency, durationMs: o.roundMs, maxRequests: 2_000_000, timeoutMs: 10_000 }, agent);
            const cpu1 = readAll(readers);
            if (n === 'node') nodeCalls += warm.latenciesMs.length + res.latenciesMs.length;
            const s = seen[n]!;
            s.errors += warm.errors + res.errors;
            for (const [k, v] of [...Object.entries(warm.errorStatuses), ...Object.entries(res.errorStatuses)]) s.errorStatuses[k] = (s.errorStatuses[k] ?? 0) + v;
            if (concurrency === 1) s.p50.push(summarize(res.latenciesMs).p50);
            else {
              s.rps.push(res.rps);
              s.calls32 += res.latenciesMs.length;
              for (const k of Object.keys(cpu1) as CpuPart[]) {
                const a = cpu0[k];
                const b = cpu1[k];
                s.cpu[k] = a === null || b === null || s.cpu[k] === null ? null : (s.cpu[k] ?? 0) + (b - a);
              }
            }
          } finally {
            agent.destroy();
          }
        }
      }
    }
    const nativeCalls = (await runtime.requestsReceived(FUNCTIONS_FRONTEND)) - req0;
    const stat1 = await runtime.showStat();
    const servedBySlot = served(stat1, slot) - served(stat0, slot);
    const toActivator = served(stat1, 'activator') - served(stat0, 'activator');
    const med = (xs: number[]) => summarize(xs).p50;
    const sides = Object.fromEntries(names.map((n) => {
      const s = seen[n]!;
      const perCall = Object.fromEntries((Object.keys(readers) as CpuPart[]).map((k) => {
        const v = s.cpu[k];
        return [k, v === null || v === undefined || s.calls32 === 0 ? null : (v * 1000) / s.calls32];
      })) as Record<CpuPart, number | null>;
      return [n, { c1P50Ms: med(s.p50), c32Rps: med(s.rps), c1P50PerRound: s.p50, c32RpsPerRound: s.rps, errors: s.errors, errorStatuses: s.errorStatuses, cpuUsPerCallC32: perCall }];
    }));
    const cpuLine = (c: Record<string, number | null>) => Object.entries(c).filter(([, v]) => v !== null && v > 0.5).map(([k, v]) => `${k} ${Math.round(v!)}`).join(', ');
    for (const [n, s] of Object.entries(sides)) log(`  ${n}: c=1 p50 ${ms(s.c1P50Ms)}, c=32 ${Math.round(s.c32Rps)}/s, errors ${s.errors}; CPU µs per call at c=32: ${cpuLine(s.cpuUsPerCallC32)}`);

    const expected = nativeCalls + nodeCalls;
    const settled = await settle(p, name, u0.requests + expected);
    const records = settled.totals.requests - u0.requests;
    log(`  accounting: ${nativeCalls} calls HAProxy counted (${servedBySlot} from ${slot}, ${toActivator} to the activator) + ${nodeCalls} on the activator's socket; ${records} metered (${expected - records} lost) after ${settled.ms} ms`);

    const metering: MeteringBatch[] = [];
    for (const n of ['native', 'node'] as const) {
      const before = (await settle(p, name, 0)).totals;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const ids: string[] = [];
      let calls = 0;
      try {
        for (let i = 0; i < o.batch; i++) {
          const a = await call(agent, targets[n]!);
          calls++;
          if (a.id !== null) ids.push(a.id);
        }
      } finally {
        agent.destroy();
      }
      const after = (await settle(p, name, before.requests + calls)).totals;
      const { invocations } = await p.api<{ invocations: Array<{ id: string; billedMs: number; memoryMb: number }> }>('GET', `/v1/functions/${name}/invocations?limit=1000`);
      const byId = new Map(invocations.map((r) => [r.id, r]));
      const mine = ids.map((id) => byId.get(id)).filter((r) => r !== undefined);
      const b: MeteringBatch = {
        path: n, calls, withId: ids.length, withRecord: mine.length,
        usageRequests: after.requests - before.requests, usageMbMs: after.mbMs - before.mbMs,
        recordsMbMs: mine.reduce((s, r) => s + (r.billedMs === 0 ? 0 : Math.max(1, Math.ceil(r.billedMs))) * Math.max(0, Math.ceil(r.memoryMb)), 0),
        memoryMb: [...new Set(mine.map((r) => r.memoryMb))],
      };
      metering.push(b);
      log(`  metering, ${n}: ${b.calls} calls, ${b.withRecord} with a record; usage +${b.usageRequests} requests, +${b.usageMbMs} MB·ms vs Σ billedMs × memory ${b.recordsMbMs}`);
    }

    return {
      rounds: o.rounds, roundMs: o.roundMs, what: Object.fromEntries(names.map((n) => [n, what[n]!])),
      instance: { id: instance.id, slot, socketPath, address: server.address },
      sides, missing,
      accounting: { nativeCalls, servedBySlot, toActivator, nodeCalls, records, lost: expected - records, settleMs: settled.ms },
      metering,
    };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
