// The native data plane on the real platform (Docker, Redis, registry, HAProxy; issue 20): Stratus starts
// HAProxy on its port and programs it. Checked from outside, through HAProxy's own counters: warm calls are
// served by a slot (not the activator), each has one record whose id is the request id the caller and the
// function saw, usage is exactly Σ billedMs × memory of those records, a call past its timeout is a 504
// problem whose instance is replaced, and a function going 0 → N → 0 under load fails no call.

import { appendFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../core/log.js';
import type { InvocationRecord } from '../../core/store/invocations.js';
import { nativeProxyFiles } from '../../gateway/native/haproxy-config.js';
import { HaproxyRuntime } from '../../gateway/native/haproxy-runtime.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { haproxyMissing } from '../support/native-proxy.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing, REDIS_URL } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';
import { until } from '../support/until.js';

const ECHO = `const instance = Math.random().toString(36).slice(2); // every instance's own (a pid repeats across containers)
export default async (event, ctx) => {
  const ms = Number(event.query?.sleep ?? 0);
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  console.log('served', ctx.requestId);
  return { id: ctx.requestId, instance };
};`;

/** One call with a function's own Host (Node's resolver does not know *.fn.localhost; a browser would). */
function callHost(port: string, host: string, pathAndQuery: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathAndQuery, headers: { host: `${host}:${port}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe.skipIf((await missing('docker', 'redis', 'registry', 'runtime-images')) || (await haproxyMissing()))('native data plane (HAProxy in front of the real platform)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  let haproxy: HaproxyRuntime;
  const suffix = Date.now().toString(36);
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, ...(init.headers as Record<string, string>) } });

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-native-'));
    platform = await startPlatform(e2eConfig(stateDir, { STRATUS_DATA_PLANE: 'native', STRATUS_AUTOSCALE_TICK_MS: '500', STRATUS_QUEUE_DEPTH: '4', STRATUS_STABLE_WINDOW_MS: '3000', STRATUS_PANIC_WINDOW_MS: '1000' }), process.env.NP_LOG ? createLogger({ level: 'debug', write: (l) => appendFileSync(process.env.NP_LOG!, `${l}\n`) }) : silentLogger);
    haproxy = new HaproxyRuntime(nativeProxyFiles(path.join(stateDir, 'native')).runtimeSocket);
  }, 60_000);

  afterAll(async () => {
    if (platform) await platform.stop();
    await removeRedisKeys(REDIS_URL, `${platformIdFor(stateDir)}:`);
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  async function deploy(name: string, config: Record<string, unknown>): Promise<void> {
    const res = await deployFunction(platform, { name, runtime: 'node', ...config }, { file: 'index.mjs', content: ECHO });
    expect(res.status).toBe(202);
    expect(await waitForBuild(platform, (await res.json()).buildId)).toMatchObject({ status: 'succeeded', error: null });
  }

  /** Calls HAProxy's slot backends (not the activator) took so far. */
  async function servedBySlots(): Promise<number> {
    return (await haproxy.showStat()).filter((r) => r.pxname?.startsWith('slot') && r.svname === 'BACKEND').reduce((n, r) => n + Number(r.stot), 0);
  }

  async function records(name: string, n: number): Promise<InvocationRecord[]> {
    return until(`${n} records of ${name}`, async () => {
      const { invocations } = (await (await api(`/v1/functions/${name}/invocations?limit=1000`)).json()) as { invocations: InvocationRecord[] };
      return invocations.length >= n ? invocations : undefined;
    }, 30_000, 200);
  }

  it('serves warm calls from a slot, one record each with the id the caller and the function saw, billed exactly', async () => {
    const name = `native-warm-${suffix}`;
    await deploy(name, { memoryMb: 128, minInstances: 1 });
    // The route is programmed when the instance is ready and the route known: the first call may go through Stratus.
    await fetch(`${platform.url}/fn/${name}/`);
    await until('a slot serving the function', async () => ((await haproxy.showStat()).some((r) => r.pxname?.startsWith('slot') && r.svname !== 'BACKEND' && r.svname !== 'FRONTEND') ? true : undefined), 10_000, 100);
    const before = await servedBySlots();
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const res = await callHost(new URL(platform.url).port, `${name}.fn.localhost`, `/x?i=${i}`);
      expect(res.status).toBe(200);
      const body = JSON.parse(res.body) as { id: string };
      // The caller's answer and the function's context carry the same id: HAProxy's.
      expect(res.headers['x-stratus-request-id']).toBe(body.id);
      ids.push(body.id);
    }
    expect((await servedBySlots()) - before).toBe(40);
    const recs = await records(name, 41);
    const byId = new Map(recs.map((r) => [r.id, r]));
    for (const id of ids) expect(byId.get(id)).toMatchObject({ function: name, version: 1, trigger: 'http', statusCode: 200, outcome: 'succeeded', memoryMb: 128 });
    const usage = (await (await api(`/v1/usage?function=${name}`)).json()) as { functions: Array<{ total: { requests: number; mbMs: number } }> };
    expect(usage.functions[0]!.total.requests).toBe(recs.length);
    expect(usage.functions[0]!.total.mbMs).toBe(recs.reduce((s, r) => s + r.billedMs * r.memoryMb, 0));
    // Logs by request id work for a call HAProxy served.
    const lines = await until('the call\'s log line', async () => {
      const { logs: l } = (await (await api(`/v1/functions/${name}/logs?requestId=${ids[5]}`)).json()) as { logs: unknown[] };
      return l.length > 0 ? l : undefined;
    }, 20_000, 200);
    expect(JSON.stringify(lines)).toContain(ids[5]);
    // The lines' own accounting on /metrics: every call's line arrived, none refused.
    const text = await (await api('/metrics')).text();
    const count = (kind: string) => Number(new RegExp(`^stratus_native_call_lines\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(count('received')).toBeGreaterThanOrEqual(41);
    expect(count('forged')).toBe(0);
    expect(count('malformed')).toBe(0);
  }, 600_000);

  it('answers a call past its timeout 504 problem+json, records it, and replaces the instance', async () => {
    const name = `native-slow-${suffix}`;
    await deploy(name, { timeoutMs: 500, minInstances: 1, concurrency: 1 });
    await fetch(`${platform.url}/fn/${name}/`);
    await until('a slot for it', async () => ((await haproxy.showServersState()).length > 0 ? true : undefined), 10_000, 100);
    const first = (await (await fetch(`${platform.url}/fn/${name}/`)).json()) as { instance: string };
    const before = await servedBySlots();
    const res = await fetch(`${platform.url}/fn/${name}/?sleep=3000`);
    expect(res.status).toBe(504);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await res.json()) as { code: string };
    expect(problem.code).toBe('FUNCTION_TIMEOUT');
    expect((await servedBySlots()) - before).toBe(1);
    const id = res.headers.get('x-stratus-request-id')!;
    const rec = (await records(name, 3)).find((r) => r.id === id);
    expect(rec).toMatchObject({ statusCode: 504, outcome: 'failed', error: 'FUNCTION_TIMEOUT' });
    // The instance with a handler still running is drained and replaced: the next calls answer from another process.
    const next = await until('an answer from a new instance', async () => {
      const r = await fetch(`${platform.url}/fn/${name}/`);
      if (r.status !== 200) return undefined;
      const b = (await r.json()) as { instance: string };
      return b.instance !== first.instance ? b : undefined;
    }, 30_000, 200);
    expect(next.instance).not.toBe(first.instance);
  }, 600_000);

  it('keeps 429 with Retry-After for calls past a full function: the slot overflows to Stratus, which queues within its bound', async () => {
    const name = `native-full-${suffix}`;
    await deploy(name, { maxInstances: 1, concurrency: 1, minInstances: 1 });
    await until('served by a slot', async () => {
      const before = await servedBySlots();
      await fetch(`${platform.url}/fn/${name}/`);
      return (await servedBySlots()) > before ? true : undefined;
    }, 10_000, 100);
    const answers = await Promise.all(Array.from({ length: 12 }, async () => {
      const res = await fetch(`${platform.url}/fn/${name}/?sleep=300`);
      const body = (await res.json()) as { code?: string };
      return { status: res.status, retryAfter: res.headers.get('retry-after'), code: body.code ?? null };
    }));
    const refused = answers.filter((a) => a.status === 429);
    // One on the instance (through HAProxy), four waiting in Stratus's queue (STRATUS_QUEUE_DEPTH), the rest refused
    // (a call that arrives late may find a place freed: at least 5 served, nothing but 200 and 429).
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(5);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
    for (const r of refused) expect(r).toMatchObject({ code: 'TOO_MANY_REQUESTS', retryAfter: expect.stringMatching(/^\d+$/) });
  }, 600_000);

  it('replays every route and server into an HAProxy that died, so warm calls are native again', async () => {
    const name = `native-replay-${suffix}`;
    await deploy(name, { minInstances: 1 });
    await fetch(`${platform.url}/fn/${name}/`);
    await until('served by a slot', async () => {
      const before = await servedBySlots();
      await fetch(`${platform.url}/fn/${name}/`);
      return (await servedBySlots()) > before ? true : undefined;
    }, 10_000, 100);
    const pid = Number((await haproxy.showInfo()).get('Pid'));
    process.kill(pid, 'SIGKILL');
    // Restarted by Stratus with nothing programmed, then given back its servers and routes.
    await until('a new HAProxy serving the function from a slot', async () => {
      const info = await haproxy.showInfo().catch(() => null);
      if (!info || Number(info.get('Pid')) === pid) return undefined;
      const before = await servedBySlots();
      const res = await fetch(`${platform.url}/fn/${name}/`).catch(() => null);
      if (res?.status !== 200) return undefined;
      return (await servedBySlots()) > before ? true : undefined;
    }, 30_000, 200);
  }, 600_000);

  it('fails no call while a function goes 0 → N → 0 → N under load', async () => {
    const name = `native-scale-${suffix}`;
    await deploy(name, { concurrency: 1, maxInstances: 6, idleTtlMs: 1000 });
    const port = new URL(platform.url).port;
    const failures: string[] = [];
    let calls = 0;
    const load = async (callers: number, ms: number) => {
      const end = Date.now() + ms;
      await Promise.all(Array.from({ length: callers }, async () => {
        while (Date.now() < end) {
          calls++;
          const res = await callHost(port, `${name}.fn.localhost`, '/?sleep=20').catch((err: unknown) => ({ status: 0, body: String(err) }));
          if (res.status !== 200) failures.push(`${res.status} ${res.body.slice(0, 200)}`);
        }
      }));
    };
    const ready = async () => ((await (await api(`/v1/functions/${name}/instances`)).json()) as { instances: Array<{ state: string }> }).instances.filter((i) => i.state === 'ready').length;
    const slotsBefore = await servedBySlots();
    await load(6, 8000);
    const peak = await ready();
    expect(peak).toBeGreaterThan(1);
    await until('scaled to zero', async () => ((await ready()) === 0 ? true : undefined), 30_000, 250);
    await load(6, 5000);
    expect(failures).toEqual([]);
    // Most calls were the native path's; the activator took the cold and overflow ones.
    expect((await servedBySlots()) - slotsBefore).toBeGreaterThan(calls / 2);
    // Every call metered once, whichever path served it (a listing shows at most 1000 records; usage counts all).
    const metered = await until('every call metered', async () => {
      const u = (await (await api(`/v1/usage?function=${name}`)).json()) as { functions: Array<{ total: { requests: number } }> };
      const n = u.functions[0]?.total.requests ?? 0;
      return n >= calls ? n : undefined;
    }, 30_000, 250);
    expect(metered).toBe(calls);
  }, 600_000);
});
