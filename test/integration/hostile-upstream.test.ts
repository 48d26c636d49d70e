// The data plane against a hostile function and a hostile caller on the real platform (Docker, Redis,
// registry; issue 7, findings 2 and 3). The hostile function hijacks its own runtime's server when its
// code loads: it patches net.Server.prototype.emit so that the runtime never sees its requests, and
// writes raw bytes on the socket instead — status 000 or 600, a control byte in a header, garbage, an
// endless header section, or nothing. Each of its calls must end as a 502 (504 for silence) while
// another function on the same platform keeps answering 200; the gateway runs in this test process,
// so a crash fails the run.

import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { E2E_NATIVE, e2eConfig } from '../support/e2e-config.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing } from '../support/services.js';

const HIJACK = `
import net from 'node:net';
const RAW = {
  '/000': 'HTTP/1.1 000 X\\r\\ncontent-length: 0\\r\\n\\r\\n',
  '/600': 'HTTP/1.1 600 X\\r\\ncontent-length: 0\\r\\n\\r\\n',
  '/bad-header': 'HTTP/1.1 200 OK\\r\\nx-evil: a\\u0001b\\r\\ncontent-length: 0\\r\\n\\r\\n',
  '/garbage': 'garbage garbage\\r\\n\\r\\n',
};
const emit = net.Server.prototype.emit;
net.Server.prototype.emit = function (event, ...args) {
  if (event === 'request') {
    const path = (args[0].url ?? '').split('?')[0];
    const socket = args[0].socket;
    socket.on('error', () => {});
    if (RAW[path] !== undefined) return socket.write(RAW[path]), true;
    if (path === '/endless') {
      socket.write('HTTP/1.1 200 OK\\r\\n');
      const t = setInterval(() => socket.write('x-more: and more\\r\\n'.repeat(100)), 5);
      socket.on('close', () => clearInterval(t));
      return true;
    }
    if (path === '/silent') return true;
  }
  return emit.call(this, event, ...args);
};
export default async () => 'the runtime was not hijacked';
`;

/** Counts its calls: a request smuggled in a body would be one more. */
const ECHO = `
let calls = 0;
export default async (event, context) => ({ calls: ++calls, method: event.method, path: event.path, body: event.body, requestId: context.requestId });
`;

/** Raw bytes to the gateway; everything it answers until it closes. */
function rawExchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (answer += c));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(30_000, () => socket.destroy(new Error(`no answer; got ${JSON.stringify(answer)}`)));
    socket.write(bytes);
  });
}

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('hostile function and caller on the real platform', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  const suffix = Date.now().toString(36);
  const names = { hostile: `e2e-hijack-${suffix}`, good: `e2e-good-${suffix}`, echo: `e2e-echo-${suffix}` };

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-hostile-'));
    platform = await startPlatform(e2eConfig(stateDir), silentLogger);
    const deploys = await Promise.all([
      deployFunction(platform, { name: names.hostile, runtime: 'node', timeoutMs: 5000 }, { file: 'index.js', content: HIJACK }),
      deployFunction(platform, { name: names.good, runtime: 'node' }, { file: 'index.js', content: 'export default async () => ({ statusCode: 200, body: "good" })' }),
      deployFunction(platform, { name: names.echo, runtime: 'node', maxInstances: 1 }, { file: 'index.js', content: ECHO }),
    ]);
    for (const res of deploys) {
      expect(res.status).toBe(202);
      const build = await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId);
      expect(build.status, build.error ?? '').toBe('succeeded');
    }
  });

  afterAll(async () => {
    if (platform) {
      for (const name of Object.values(names)) {
        await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
      }
      await platform.stop();
    }
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  const good = async () => {
    const res = await fetch(`${platform.url}/fn/${names.good}`);
    return { status: res.status, body: await res.text() };
  };

  it.each([
    ['/000', 502, 'FUNCTION_BAD_RESPONSE'],
    ['/600', 502, 'FUNCTION_BAD_RESPONSE'],
    ['/bad-header', 502, 'FUNCTION_BAD_RESPONSE'],
    ['/garbage', 502, 'FUNCTION_BAD_RESPONSE'],
    ['/endless', 502, 'FUNCTION_BAD_RESPONSE'],
    ['/silent', 504, 'FUNCTION_TIMEOUT'],
  ])('a function answering %s on its raw socket gets %i %s, and another function keeps answering 200', async (hostilePath, status, code) => {
    expect(await good()).toEqual({ status: 200, body: 'good' });
    const res = await fetch(`${platform.url}/fn/${names.hostile}${hostilePath}`);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ code });
    expect(await good()).toEqual({ status: 200, body: 'good' });
  });

  it('a chunked GET whose body carries a second request reaches the function as one request with that body', async () => {
    const smuggled = `GET /smuggled HTTP/1.1\r\nHost: x\r\nx-stratus-request-id: forged\r\n\r\n`;
    const chunk = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
    const raw = await rawExchange(platform.url, `GET /fn/${names.echo}/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk}`);
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    const first = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { calls: number; method: string; path: string; body: string; requestId: string };
    expect(first).toMatchObject({ method: 'GET', path: '/first', body: smuggled });
    expect(first.requestId).not.toBe('forged');
    // The next call is the function's next one: nothing ran in between.
    const next = (await (await fetch(`${platform.url}/fn/${names.echo}/next`)).json()) as { calls: number; path: string };
    expect(next).toMatchObject({ path: '/next', calls: first.calls + 1 });
  });

  it('refuses Content-Length with Transfer-Encoding with 400 problem+json, and the function sees nothing', async () => {
    const before = (await (await fetch(`${platform.url}/fn/${names.echo}/before`)).json()) as { calls: number };
    const raw = await rawExchange(platform.url, `POST /fn/${names.echo}/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /fn/${names.echo}/smuggled HTTP/1.1\r\nHost: x\r\n\r\n`);
    if (E2E_NATIVE) {
      // HAProxy 2.6 does not refuse the pair: it drops Content-Length, reads the chunked body (empty here) and closes
      // the connection after its one answer, so the request after it is never read. Smuggling fails either way;
      // the function sees the POST and nothing else.
      expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
      expect(raw.match(/HTTP\/1\.1 /g)).toHaveLength(1);
      expect(raw.toLowerCase()).toContain('connection: close');
      expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toMatchObject({ path: '/x', body: '' });
      const after = (await (await fetch(`${platform.url}/fn/${names.echo}/after`)).json()) as { calls: number };
      expect(after.calls).toBe(before.calls + 2);
      return;
    }
    expect(raw.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw.toLowerCase()).toContain('content-type: application/problem+json');
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toMatchObject({ code: 'INVALID_REQUEST' });
    const after = (await (await fetch(`${platform.url}/fn/${names.echo}/after`)).json()) as { calls: number };
    expect(after.calls).toBe(before.calls + 1);
  });
});
