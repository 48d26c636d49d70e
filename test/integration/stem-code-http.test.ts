// Code over HTTP, end to end on the host: the real Node runtime as a stem, the gateway's code route behind
// a real HTTP server, signed URLs from core/code-url.ts, archives packed from a fixture's tree. Then what a
// hostile archive or URL gets: refused, the stem still a stem, nothing written outside its code dir.
// Needs only node; nothing but 127.0.0.1 and a unix socket.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeUrlKey, signCodePath } from '../../core/code-url.js';
import { systemClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { DirArtifactStore } from '../../core/store/artifacts-dir.js';
import { createCodeRoute } from '../../gateway/dataplane/code-route.js';
import type { Endpoint } from '../../scheduler/backends/backend.js';
import { probeHealth } from '../../scheduler/backends/health.js';
import { CodeArchives } from '../../scheduler/code/code-archives.js';
import { SignedCodeUrls } from '../../scheduler/code/code-urls.js';
import { callEndpoint } from '../support/endpoint-call.js';
import { until } from '../support/until.js';

const HELLO = path.join(PROJECT_ROOT, 'test', 'fixtures', 'functions', 'node-hello');
const PY_HELLO = path.join(PROJECT_ROOT, 'test', 'fixtures', 'functions', 'python-hello');
const RUNTIMES = [
  { runtime: 'node', command: [process.execPath, path.join(PROJECT_ROOT, 'runtime-images', 'node', 'runtime.mjs')], fn: 'hello', handler: 'index.handler', greeting: 'hello from node' },
  { runtime: 'python', command: ['python3', path.join(PROJECT_ROOT, 'runtime-images', 'python', 'runtime.py')], fn: 'pyhello', handler: 'main.handler', greeting: 'hello from python' },
] as const;
const gzip = promisify(zlib.gzip);

type Member = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string };

async function tarGz(members: Member[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((r) => pack.on('end', r));
  for (const m of members) {
    const type = m.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry({ name: m.name, type, mode: 0o644 }, m.body ?? '', cb);
      else pack.entry({ name: m.name, type, ...(m.linkname ? { linkname: m.linkname } : {}) }, cb);
    });
  }
  pack.finalize();
  await ended;
  return gzip(Buffer.concat(chunks));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(RUNTIMES)('$runtime stems fetch their code over a signed URL', ({ command, fn, handler, greeting }) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'stratus-code-http-'));
  const key = codeUrlKey('an admin key of the platform, long enough');
  const store = new DirArtifactStore(path.join(tmp, 'artifacts'));
  const refs = new Map<string, { artifactDir: string | null; tag: string }>([['hello@1', { artifactDir: HELLO, tag: 'b1' }], ['pyhello@1', { artifactDir: PY_HELLO, tag: 'b1' }], ['loading@1', { artifactDir: null, tag: 'b7' }]]);
  const archives = new CodeArchives({ lookup: async (fn, v) => refs.get(`${fn}@${v}`) ?? null, store, logger: silentLogger });
  // Whatever a hostile test wants served, at /raw (no signature: the runtime does not care who answers).
  let raw = Buffer.alloc(0);
  const route = createCodeRoute({ key, archives, clock: systemClock, logger: silentLogger });
  const server = http.createServer((req, res) => (req.url === '/raw' ? res.end(raw) : route(req, res)));
  let base = '';
  let urls: SignedCodeUrls;
  let stem: ChildProcess;
  const endpoint: Endpoint = { kind: 'unix', socketPath: path.join(tmp, 'stem.sock') };
  const init = (body: Record<string, unknown>) => callEndpoint(endpoint, { method: 'POST', path: '/init', body: JSON.stringify({ handler, function: fn, version: 1, env: {}, ...body }) });

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    urls = new SignedCodeUrls({ key, baseUrl: base, archives, clock: systemClock, ttlMs: 5000 });
    stem = spawn(command[0], command.slice(1), {
      env: { PATH: process.env.PATH ?? '', STRATUS_SOCKET: endpoint.socketPath, STRATUS_STEM: '1', TMPDIR: tmp, STRATUS_CODE_MAX_BYTES: String(64 * 1024), STRATUS_CODE_MAX_UNPACKED_BYTES: String(100 * 1024) },
      stdio: 'ignore',
    });
    await until('the stem to answer /healthz', async () => ((await probeHealth(endpoint, 500)) === 200 ? true : undefined));
  });
  afterAll(async () => {
    stem?.kill('SIGKILL');
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(tmp, { recursive: true, force: true });
  });

  it('the code route answers a signed URL and nothing else', async () => {
    const good = await urls.issue('hello', 1);
    const res = await fetch(good.codeUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(good.sha256);

    const u = new URL(good.codeUrl);
    const sig = u.searchParams.get('sig')!;
    const flipped = `${sig.slice(0, -1)}${sig.endsWith('0') ? '1' : '0'}`;
    const tampered = [
      good.codeUrl.replace(`sig=${sig}`, `sig=${flipped}`),
      good.codeUrl.replace('/hello/1?', '/hello/2?'), // another version with this signature
      good.codeUrl.replace(/expires=\d+/, `expires=${Number(u.searchParams.get('expires')) + 60}`), // a longer life
      `${base}/internal/code/hello/1`,
    ];
    for (const t of tampered) {
      const r = await fetch(t);
      expect(r.status, t).toBe(401);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
    }
    const expired = `${base}${signCodePath(key, 'hello', 1, Date.now() - 2000)}`;
    const r = await fetch(expired);
    expect(r.status).toBe(401);
    expect(((await r.json()) as { detail: string }).detail).toMatch(/expired/);
    // Signed, but no such version: the record decides where code is, so no path from the URL reaches a file.
    expect((await fetch(`${base}${signCodePath(key, '../../etc', 1, Date.now() + 5000)}`)).status).toBe(404);
    expect((await fetch(good.codeUrl, { method: 'POST' })).status).toBe(400);
  });

  it("serves a version being built from the tree its load check starts (the record names no artifact dir yet)", async () => {
    await expect(urls.issue('loading', 1)).rejects.toMatchObject({ code: 'INSTANCE_START_FAILED' });
    const code = await urls.issue('loading', 1, HELLO);
    const res = await fetch(code.codeUrl);
    expect(res.status).toBe(200);
    expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(code.sha256);
  });

  it('another replica without the artifact dir serves the same archive from the artifact store', async () => {
    const first = await urls.issue('hello', 1);
    const elsewhere = new CodeArchives({ lookup: async () => ({ artifactDir: null, tag: 'b1' }), store, logger: silentLogger });
    expect((await elsewhere.get('hello', 1))?.sha256).toBe(first.sha256);
    const noStore = new CodeArchives({ lookup: async () => ({ artifactDir: null, tag: 'b1' }), store: null, logger: silentLogger });
    expect(await noStore.get('hello', 1)).toBeNull();
  });

  it('refuses hostile archives and a wrong digest, and stays a stem', async () => {
    const outside = path.join(tmp, 'escaped');
    const cases: { members: Member[]; why: RegExp }[] = [
      { members: [{ name: '../escaped', body: 'x' }], why: /leaves its root/ },
      { members: [{ name: `${outside}`, body: 'x' }], why: /absolute path|leaves its root/ },
      { members: [{ name: 'l', type: 'symlink', linkname: '..' }], why: /symlink that leaves its root/ },
      { members: [{ name: 'd/up', type: 'symlink', linkname: '..' }, { name: 'd/out', type: 'symlink', linkname: 'up/..' }], why: /symlink that leaves its root/ },
      { members: [{ name: 'l', type: 'symlink', linkname: outside }], why: /absolute path/ },
      { members: [{ name: 'l', type: 'symlink', linkname: 'sub' }, { name: 'l/x', type: 'symlink', linkname: '.' }], why: /symlink under a symlink|leaves/ },
      { members: [{ name: 'index.js', body: 'export default () => 1' }, { name: 'h', type: 'link', linkname: 'index.js' }], why: /hard link/ },
      { members: [{ name: 'a.js', body: '1' }, { name: 'a.js', body: '2' }], why: /unpacking it failed|exists/ }, // never written over
      { members: [{ name: 'big.js', body: 'x'.repeat(200 * 1024) }], why: /unpacks to more than 102400 bytes/ }, // a gzip bomb in small
      { members: [{ name: 'noise.bin', body: randomBytes(80 * 1024).toString('base64') }], why: /more than the 65536/ },
    ];
    for (const c of cases) {
      raw = await tarGz(c.members);
      const res = await init({ codeUrl: `${base}/raw`, sha256: sha(raw) });
      const names = c.members.map((m) => m.name).join(', ');
      expect(res.status, names).toBe(400);
      expect(JSON.parse(res.body).detail, names).toMatch(c.why);
    }
    expect(existsSync(outside)).toBe(false);

    raw = await tarGz([{ name: 'index.js', body: 'export default () => 1' }]);
    const wrong = await init({ codeUrl: `${base}/raw`, sha256: sha(Buffer.from('something else')) });
    expect(wrong.status).toBe(400);
    expect(JSON.parse(wrong.body).detail).toMatch(/SHA-256/);
    expect((await init({ codeUrl: `${base}/raw`, sha256: 'nothex' })).status).toBe(400);
    const expired = await init({ codeUrl: `${base}${signCodePath(key, 'hello', 1, Date.now() - 2000)}`, sha256: sha(raw) });
    expect(JSON.parse(expired.body).detail).toMatch(/answered 401/);
    expect(JSON.parse((await callEndpoint(endpoint, { path: '/healthz' })).body)).toEqual({ status: 'stem' });
  });

  it('loads the version the URL names and serves it', async () => {
    const code = await urls.issue(fn, 1);
    const res = await init(code);
    expect(res.status, res.body).toBe(200);
    const call = await callEndpoint(endpoint, { path: '/greet', headers: { 'x-stratus-request-id': 'r1' } });
    expect(JSON.parse(call.body)).toMatchObject({ message: greeting, function: fn, version: 1, path: '/greet' });
  });
});
