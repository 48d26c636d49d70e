// The runtime protocol (runtime-images/README.md), checked against both runtimes run as host child
// processes on a unix socket in a temp dir: no Docker, Redis or registry needed.

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'test/fixtures/functions');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'stratus-rt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface RuntimeProc {
  child: ChildProcess;
  socketPath: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: () => unknown;
}

const running = new Set<RuntimeProc>();
let counter = 0;

const RUNTIMES = {
  node: { cmd: 'node', script: 'runtime-images/node/runtime.mjs', hello: 'node-hello', echo: 'node-echo', modes: 'node-modes', handler: 'index.handler' },
  python: { cmd: 'python3', script: 'runtime-images/python/runtime.py', hello: 'python-hello', echo: 'python-echo', modes: 'python-modes', handler: 'main.handler' },
} as const;
type RuntimeName = keyof typeof RUNTIMES;

function start(runtime: RuntimeName, env: Record<string, string>): RuntimeProc {
  const socketPath = path.join(tmp, `rt-${++counter}.sock`);
  const child = spawn(RUNTIMES[runtime].cmd, [RUNTIMES[runtime].script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PYTHONDONTWRITEBYTECODE: '1', STRATUS_SOCKET: socketPath, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const proc = { child, socketPath, stdout: () => out, stderr: () => err, exited };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

afterEach(async () => {
  for (const p of running) p.child.kill('SIGKILL');
  await Promise.all([...running].map((p) => p.exited));
});

function request(
  proc: RuntimeProc,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: proc.socketPath, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Polls GET /healthz until 200; fails with the runtime's stderr if it exits or never gets ready. */
async function ready(proc: RuntimeProc): Promise<RuntimeProc> {
  let exitCode: number | null | undefined;
  void proc.exited.then((c) => (exitCode = c));
  for (let i = 0; i < 300; i++) {
    if (exitCode !== undefined) throw new Error(`runtime exited ${exitCode}: ${proc.stderr()}`);
    const status = await request(proc, { path: '/healthz' }).then((r) => r.status, () => 0);
    if (status === 200) return proc;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`runtime never became ready: ${proc.stderr()}`);
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

const fixture = (name: string) => path.join(FIXTURES, name);
const postJson = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe.each(Object.keys(RUNTIMES) as RuntimeName[])('%s runtime', (runtime) => {
  const rt = RUNTIMES[runtime];
  const fn = (name: string, env: Record<string, string> = {}) => ready(start(runtime, { STRATUS_CODE_DIR: fixture(name), ...env }));

  it('function role: loads at start, answers healthz, and says hello', async () => {
    const p = await fn(rt.hello, { STRATUS_FUNCTION_NAME: 'hello', STRATUS_FUNCTION_VERSION: '3' });
    const health = await request(p, { path: '/healthz' });
    expect(health.status).toBe(200);
    const res = await request(p, { path: '/greet' });
    expect(res.status).toBe(200);
    expect(res.headers['x-stratus-request-id']).toMatch(/[0-9a-f-]{36}/);
    expect(res.json()).toMatchObject({ message: `hello from ${runtime}`, function: 'hello', version: 3, path: '/greet' });
  });

  it('echoes method, path, query, headers and a text body', async () => {
    const p = await fn(rt.echo);
    const deadline = Date.now() + 3_600_000;
    const res = await request(p, {
      method: 'PUT',
      path: '/items/7?a=1&a=2&b=x',
      headers: { 'X-Test': 'Yes', 'content-type': 'application/json', 'x-stratus-request-id': 'rid-echo', 'x-stratus-deadline-ms': String(deadline) },
      body: '{"k":"v"}',
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-stratus-request-id']).toBe('rid-echo');
    expect(res.headers['x-echo']).toBe('yes');
    expect(res.json()).toMatchObject({
      method: 'PUT',
      path: '/items/7',
      query: { a: ['1', '2'], b: 'x' },
      headers: { 'x-test': 'Yes' },
      body: '{"k":"v"}',
      bodyType: 'text',
      requestId: 'rid-echo',
      deadline,
    });
    expect((res.json() as { remainingMs: number }).remainingMs).toBeGreaterThan(0);
  });

  it('passes a binary body as bytes', async () => {
    const p = await fn(rt.echo);
    const bytes = Buffer.from([0, 1, 2, 200, 255, 10, 13]);
    const res = await request(p, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    expect(res.json()).toMatchObject({ bodyType: 'binary', body: bytes.toString('base64') });
  });

  it('accepts a chunked request body (a proxy streaming the caller\'s body)', async () => {
    const p = await fn(rt.echo);
    const res = await new Promise<Reply>((resolve, reject) => {
      const req = http.request({ socketPath: p.socketPath, method: 'POST', path: '/chunked', headers: { 'content-type': 'text/plain' }, agent: false }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.from(text), text, json: () => JSON.parse(text) });
        });
      });
      req.on('error', reject);
      req.write('first,');
      req.end('second');
    });
    expect(res.json()).toMatchObject({ path: '/chunked', body: 'first,second', bodyType: 'text' });
  });

  it('treats a request with x-stratus-request-id as an invocation even on /healthz', async () => {
    const p = await fn(rt.echo);
    const res = await request(p, { path: '/healthz', headers: { 'x-stratus-request-id': 'rid-own-health' } });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ path: '/healthz', requestId: 'rid-own-health' });
  });

  it('maps results to responses', async () => {
    const p = await fn(rt.modes);
    const str = await request(p, { path: '/string' });
    expect([str.status, str.headers['content-type'], str.text]).toEqual([200, 'text/plain; charset=utf-8', 'plain text']);
    const none = await request(p, { path: '/undefined' });
    expect([none.status, none.text]).toEqual([204, '']);
    const status = await request(p, { path: '/status' });
    expect([status.status, status.headers['x-custom'], status.headers['content-type']]).toEqual([201, 'yes', 'application/json']);
    expect(status.json()).toEqual({ created: true });
    const value = await request(p, { path: '/value' });
    expect([value.status, value.headers['content-type']]).toEqual([200, 'application/json']);
    expect(value.json()).toEqual([1, 2, 3]);
    const bytes = await request(p, { path: '/bytes' });
    expect([bytes.status, bytes.headers['content-type']]).toEqual([200, 'application/octet-stream']);
    expect([...bytes.body]).toEqual([0, 1, 2, 255]);
  });

  it('answers 500 FUNCTION_ERROR problem+json for a thrown error, its message and stack only on stderr', async () => {
    const p = await fn(rt.modes);
    const res = await request(p, { path: '/throw', headers: { 'x-stratus-request-id': 'rid-throw' } });
    expect(res.status).toBe(500);
    expect(res.headers['x-stratus-function-error']).toBe('unhandled');
    expect(res.headers['x-stratus-request-id']).toBe('rid-throw');
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json()).toEqual({
      type: '/docs/errors.md#function_error', title: 'The function threw an error', status: 500, code: 'FUNCTION_ERROR',
      detail: expect.stringContaining('rid-throw'),
    });
    expect(res.text).not.toContain('boom');
    await waitFor(() => p.stderr().includes('"rid":"rid-throw"') && p.stderr().includes(`boom from ${runtime}`), 'the error log line');
  });

  it('writes logs as JSON lines attributed to the invocation', async () => {
    const p = await fn(rt.modes);
    await request(p, { path: '/log', headers: { 'x-stratus-request-id': 'rid-log' } });
    await waitFor(() => p.stdout().includes('rid-log') && p.stderr().includes('"msg":"warned"'), 'log lines');
    const lines = p.stdout().split('\n').filter((l) => l.startsWith('{"rid"')).map((l) => JSON.parse(l) as Record<string, string>);
    expect(lines).toContainEqual({ rid: 'rid-log', level: 'info', msg: 'line from rid-log' });
    expect(p.stderr()).toContain('{"rid":"rid-log","level":"warn","msg":"warned"}');
  });

  it('runs invocations concurrently', async () => {
    const p = await fn(rt.modes);
    const replies = await Promise.all(Array.from({ length: 4 }, () => request(p, { path: '/barrier?n=4' })));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(replies.map((r) => (r.json() as { reached: boolean }).reached)).toEqual([true, true, true, true]);
    expect(new Set(replies.map((r) => r.headers['x-stratus-request-id'])).size).toBe(4);
  });

  it('runs at most STRATUS_CONCURRENCY invocations at once; the others wait their turn and are answered', async () => {
    // Several Stratus replicas call one instance, each counting only its own calls: the runtime holds the limit.
    const p = await fn(rt.modes, { STRATUS_CONCURRENCY: '2' });
    const both = await Promise.all([request(p, { path: '/barrier?n=2' }), request(p, { path: '/barrier?n=2' })]);
    expect(both.map((r) => (r.json() as { reached: boolean }).reached)).toEqual([true, true]); // 2 do run at once
    const replies = await Promise.all(Array.from({ length: 6 }, () => request(p, { path: '/peak?ms=60' })));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(Math.max(...replies.map((r) => (r.json() as { peak: number }).peak))).toBe(2);
  });

  it('a stem takes its concurrency from /init', async () => {
    const p = await ready(start(runtime, { STRATUS_STEM: '1' }));
    const init = await request(p, { path: '/init', ...postJson({ codeDir: fixture(rt.modes), handler: rt.handler, function: 'modes', version: 1, env: {}, concurrency: 1 }) });
    expect(init.status).toBe(200);
    const replies = await Promise.all(Array.from({ length: 4 }, () => request(p, { path: '/peak?ms=40' })));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(Math.max(...replies.map((r) => (r.json() as { peak: number }).peak))).toBe(1);
  });

  it('answers 413 past STRATUS_MAX_BODY_BYTES', async () => {
    const p = await fn(rt.echo, { STRATUS_MAX_BODY_BYTES: '16' });
    const res = await request(p, { method: 'POST', body: 'x'.repeat(100) });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json()).toMatchObject({ type: '/docs/errors.md#payload_too_large', status: 413, code: 'PAYLOAD_TOO_LARGE', detail: expect.stringContaining('16 bytes') });
  });

  it('exits 1 with a clear message when the handler cannot be loaded', async () => {
    const p = start(runtime, { STRATUS_CODE_DIR: fixture(rt.hello), STRATUS_HANDLER: 'nosuchfile.handler' });
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(/cannot load handler "nosuchfile\.handler".*not found/);
  });

  it('stem role: 503 before init, 400 on a bad handler, 200 on a good one, then 409', async () => {
    const p = await ready(start(runtime, { STRATUS_STEM: '1' }));
    const early = await request(p, { path: '/x' });
    expect(early.status).toBe(503);
    expect(early.headers['x-stratus-request-id']).toBeTruthy();
    expect(early.headers['content-type']).toBe('application/problem+json');
    expect(early.json()).toMatchObject({ status: 503, code: 'FUNCTION_UNAVAILABLE' });
    const bad = await request(p, { path: '/init', ...postJson({ codeDir: fixture(rt.echo), handler: 'missing.handler' }) });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'INVALID_REQUEST', detail: expect.stringContaining('missing') });
    expect((await request(p, { path: '/x' })).status).toBe(503);
    // The module loads but lacks the export: a later /init of another code dir must not reuse it.
    const noExport = { codeDir: fixture(rt.modes), handler: rt.handler.replace('handler', 'nosuch') };
    expect((await request(p, { path: '/init', ...postJson(noExport) })).status).toBe(400);
    const init = { codeDir: fixture(rt.echo), handler: rt.handler, function: 'echo', version: 5, env: { GREETING: 'hi' } };
    const good = await request(p, { path: '/init', ...postJson(init) });
    expect([good.status, good.json()]).toEqual([200, { status: 'ready' }]);
    const res = await request(p, { path: '/after' });
    expect(res.json()).toMatchObject({ path: '/after', functionName: 'echo', version: 5, env: { GREETING: 'hi' } });
    const again = await request(p, { path: '/init', ...postJson(init) });
    expect(again.status).toBe(409);
    expect(again.json()).toMatchObject({ status: 409, code: 'CONFLICT' });
  });

  it('SIGTERM drains an in-flight invocation and exits 0', async () => {
    const p = await fn(rt.modes);
    const inFlight = request(p, { path: '/sleep?ms=500', headers: { 'x-stratus-request-id': 'rid-drain' } });
    await waitFor(() => p.stdout().includes('"rid":"rid-drain"'), 'the invocation to start');
    p.child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ slept: 500, requestId: 'rid-drain' });
    expect(await p.exited).toBe(0);
  });
});

describe('node runtime: module formats', () => {
  // Copied out of the repo: its package.json says "type": "module", a user's upload has no such parent.
  const startNode = (dir: string, handler: string) => {
    const codeDir = path.join(tmp, `code-${++counter}`);
    cpSync(fixture(dir), codeDir, { recursive: true });
    return ready(start('node', { STRATUS_CODE_DIR: codeDir, STRATUS_HANDLER: handler }));
  };

  it('loads `export default` from a .js file without package.json', async () => {
    const p = await startNode('node-hello', 'index.handler');
    expect((await request(p)).json()).toMatchObject({ message: 'hello from node' });
  });

  it('loads CommonJS module.exports = fn', async () => {
    const p = await startNode('node-cjs', 'index.handler');
    expect((await request(p, { path: '/c' })).json()).toEqual({ style: 'module.exports', path: '/c' });
  });

  it('loads CommonJS exports.handler', async () => {
    const p = await startNode('node-cjs', 'named.handler');
    expect((await request(p, { path: '/n' })).json()).toEqual({ style: 'exports.handler', path: '/n' });
  });

  it('streams a Readable body', async () => {
    const p = await startNode('node-modes', 'index.handler');
    const res = await request(p, { path: '/stream' });
    expect([res.status, res.headers['transfer-encoding'], res.text]).toEqual([200, 'chunked', 'abc']);
  });
});

describe('python runtime: async handlers', () => {
  it('runs an `async def` handler and a returned coroutine', async () => {
    const p = await ready(start('python', { STRATUS_CODE_DIR: fixture('python-modes'), STRATUS_HANDLER: 'async_main.handler' }));
    const res = await request(p, { path: '/a', headers: { 'x-stratus-request-id': 'rid-async' } });
    expect(res.json()).toEqual({ async: true, path: '/a', requestId: 'rid-async' });
    const q = await ready(start('python', { STRATUS_CODE_DIR: fixture('python-modes') }));
    expect((await request(q, { path: '/async' })).json()).toEqual({ async: true });
  });
});
