// Every code docs/errors.md documents is provoked here through the API that answers it, and the answer is
// checked for its shape (application/problem+json; type, title, status, code, detail) — not only listed
// (issue 11, item 5). The control plane runs as createApp over in-memory fakes (supertest); the data plane
// runs as a real platform (startPlatform: the process backend, the real builder with its load check, the
// real scheduler, runtime and proxy) with no service needed. The last test fails when a documented code
// was provoked by none.

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, type ErrorCode } from '../../core/errors.js';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { answerClientError } from '../../gateway/http/client-error.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { githubPush } from '../support/git-forge.js';
import { isCI } from '../support/services.js';

const DOC_CODES = [...fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/errors.md'), 'utf8').matchAll(/^### ([A-Z_]+)$/gm)].map((m) => m[1]!);
const provoked = new Map<string, string>();
/** The Python runtime's 413 is checked too where python3 is (always in CI). */
const withPython = isCI || spawnSync('python3', ['--version']).status === 0;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** Checks a problem answer and records its code as provoked by `how`. */
function expectProblem(how: string, res: Answer, code: ErrorCode): Record<string, unknown> {
  const body = res.body as Record<string, unknown>;
  expect(res.headers['content-type'], how).toMatch(/^application\/problem\+json/);
  expect(body, how).toMatchObject({ type: `/docs/errors.md#${code.toLowerCase()}`, title: ERROR_CATALOGUE[code].title, status: ERROR_CATALOGUE[code].status, code });
  expect(res.status, how).toBe(ERROR_CATALOGUE[code].status);
  expect(String(body.detail ?? '').length, how).toBeGreaterThan(10);
  provoked.set(code, how);
  return body;
}

async function fromFetch(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: expectProblem names what came
  }
  return { status: res.status, headers: Object.fromEntries(res.headers), body };
}

/** Raw bytes to a server; the answer it sends before closing, parsed. */
function rawExchange(port: number, bytes: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (raw += d));
    socket.on('error', () => {}); // the server closes after its answer; a write may race it
    socket.on('close', () => {
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(raw.slice(0, 200))}`));
      const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).trim().toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(raw.slice(end + 4)) });
    });
    socket.write(bytes);
  });
}

describe('every documented error code, provoked', () => {
  describe('control plane (createApp over in-memory fakes)', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness();
    });
    afterAll(async () => {
      await h.close();
    });
    const upload = (config: Record<string, unknown>) =>
      request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify(config)).attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');

    it('UNAUTHORIZED: no key', async () => {
      expectProblem('GET /v1/functions without a key', await request(h.app).get('/v1/functions'), 'UNAUTHORIZED');
    });

    it('HOOK_NOT_CONFIGURED: a MinIO webhook to a Stratus without STRATUS_MINIO_WEBHOOK_TOKEN', async () => {
      const res = await request(h.app).post('/v1/hooks/storage/minio').set('authorization', 'Bearer some-minio-token-0123').send({ EventName: 's3:ObjectCreated:Put', Records: [] });
      expect(expectProblem('POST /v1/hooks/storage/minio, the hook off', res, 'HOOK_NOT_CONFIGURED').field).toBe('STRATUS_MINIO_WEBHOOK_TOKEN');
    });

    it('NOT_FOUND: a path no route serves', async () => {
      expectProblem('GET /v1/nothing-here', await request(h.app).get('/v1/nothing-here').set(auth), 'NOT_FOUND');
    });

    it('FUNCTION_NOT_FOUND: an unknown function, and a name no function can have', async () => {
      expectProblem('GET /v1/functions/nope', await request(h.app).get('/v1/functions/nope').set(auth), 'FUNCTION_NOT_FOUND');
      expectProblem('GET /v1/functions/Bad_Name', await request(h.app).get('/v1/functions/Bad_Name').set(auth), 'FUNCTION_NOT_FOUND');
      expectProblem('GET /fn/Bad_Name', await request(h.app).get('/fn/Bad_Name'), 'FUNCTION_NOT_FOUND');
    });

    it('BUILD_NOT_FOUND: an unknown build id', async () => {
      expectProblem('GET /v1/builds/<unknown>', await request(h.app).get(`/v1/builds/${randomUUID()}`).set(auth), 'BUILD_NOT_FOUND');
    });

    it('SOURCE_NOT_KEPT: the source of a version that runs an image given at deploy', async () => {
      const deployed = await request(h.app).post('/v1/functions').set(auth).send({ name: 'own-image', image: 'example/own:1' });
      expect(deployed.status).toBe(201);
      expectProblem('GET /v1/functions/own-image/versions/1/source', await request(h.app).get(`/v1/functions/own-image/versions/${deployed.body.version}/source`).set(auth), 'SOURCE_NOT_KEPT');
    });

    it('INVALID_CONFIG: a name outside the pattern, a value out of range', async () => {
      const badName = expectProblem('deploy with name "Hello_World"', await upload({ name: 'Hello_World', runtime: 'node' }), 'INVALID_CONFIG');
      expect(badName.field).toBe('config.name');
      const range = expectProblem('deploy with memoryMb 5', await upload({ name: 'hello', runtime: 'node', memoryMb: 5 }), 'INVALID_CONFIG');
      expect(range.field).toBe('config.memoryMb');
    });

    it('INVALID_REQUEST: a body that is not JSON, a bad query parameter', async () => {
      const res = await request(h.app).post('/v1/functions').set(auth).set('content-type', 'application/json').send('{"name": ');
      expectProblem('POST /v1/functions with broken JSON', res, 'INVALID_REQUEST');
      await upload({ name: 'hello', runtime: 'node' });
      expectProblem('GET logs?limit=lots', await request(h.app).get('/v1/functions/hello/logs?limit=lots').set(auth), 'INVALID_REQUEST');
    });

    it('UNSUPPORTED_MEDIA_TYPE: a deploy as text/plain', async () => {
      const res = await request(h.app).post('/v1/functions').set(auth).set('content-type', 'text/plain').send('hello');
      expectProblem('POST /v1/functions as text/plain', res, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('CONFLICT: a PATCH before any version is deployed', async () => {
      await upload({ name: 'not-built', runtime: 'node' });
      const res = await request(h.app).patch('/v1/functions/not-built').set(auth).send({ memoryMb: 512 });
      expectProblem('PATCH a function still building', res, 'CONFLICT');
    });

    it('INVALID_TRIGGER, TRIGGER_NOT_FOUND: a cron trigger with a bad schedule, a trigger id the function lacks', async () => {
      const up = await upload({ name: 'scheduled', runtime: 'node' });
      await h.builder.succeed(up.body.buildId);
      const bad = await request(h.app).post('/v1/functions/scheduled/triggers').set(auth).send({ type: 'cron', schedule: '61 * * * *' });
      expect(expectProblem('a cron trigger whose minute is 61', bad, 'INVALID_TRIGGER').field).toBe('body.schedule');
      expectProblem('GET a trigger id the function does not have', await request(h.app).get('/v1/functions/scheduled/triggers/nope').set(auth), 'TRIGGER_NOT_FOUND');
    });

    it('METHOD_NOT_ALLOWED and CORS_PREFLIGHT_REFUSED: a function URL whose http trigger limits methods and origins', async () => {
      const up = await upload({ name: 'picky', runtime: 'node', triggers: [{ type: 'http', methods: ['GET'], cors: { allowOrigins: ['https://app.example.com'] } }] });
      await h.builder.succeed(up.body.buildId);
      const put = await request(h.app).put('/fn/picky');
      expectProblem('PUT /fn/picky, whose trigger takes GET', put, 'METHOD_NOT_ALLOWED');
      expect(put.headers.allow).toBe('GET');
      const preflight = await request(h.app).options('/fn/picky').set('origin', 'https://elsewhere.example').set('access-control-request-method', 'GET');
      expectProblem('a preflight to /fn/picky from an origin its CORS settings do not list', preflight, 'CORS_PREFLIGHT_REFUSED');
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('GIT_NOT_CONFIGURED, GIT_REPOSITORY_REFUSED, GIT_FETCH_FAILED: push hooks a function cannot take', async () => {
      const secret = 'git-hook-secret-0123456789';
      const hook = (name: string, cloneUrl: string) => {
        const { headers, body } = githubPush({ ref: 'refs/heads/main', before: '0'.repeat(40), after: 'e'.repeat(40), message: 'm', cloneUrl, fullName: 'ada/app' }, secret);
        let r = request(h.app).post(`/v1/hooks/git/${name}`);
        for (const [k, v] of headers) r = r.set(k, v);
        return r.send(body.toString('utf8')); // a string goes out as its bytes: the signature holds
      };
      await upload({ name: 'no-git', runtime: 'node' });
      expectProblem('a push hook for a function without git settings', await hook('no-git', 'https://forge.test/ada/app.git'), 'GIT_NOT_CONFIGURED');
      const missing = path.join(os.tmpdir(), `stratus-no-repo-${randomUUID()}.git`);
      await upload({ name: 'pinned-git', runtime: 'node', git: { secret, repository: `file://${missing}` } });
      expectProblem('a push hook naming another repository than the pinned one', await hook('pinned-git', 'https://forge.test/eve/other.git'), 'GIT_REPOSITORY_REFUSED');
      const fetch = expectProblem('a push hook whose pinned repository does not exist', await hook('pinned-git', `file://${missing}`), 'GIT_FETCH_FAILED');
      // git's words ("does not appear to be a git repository") go to the log, never to the hook's caller.
      expect(String(fetch.detail)).toMatch(/could not fetch commit/);
      expect(String(fetch.detail)).not.toMatch(/does not appear|not found|fatal|stratus-no-repo/);
    });

    it('INTERNAL: a failure of Stratus itself, without its cause', async () => {
      const list = h.store.listFunctions.bind(h.store);
      h.store.listFunctions = () => Promise.reject(new Error('disk on fire at /var/lib/secret'));
      try {
        const body = expectProblem('GET /v1/functions with a failing store', await request(h.app).get('/v1/functions').set(auth), 'INTERNAL');
        expect(JSON.stringify(body)).not.toContain('secret');
      } finally {
        h.store.listFunctions = list;
      }
    });

    // Wrong keys throttle this client's admin key everywhere (/v1 too): the tests after this one use other servers.
    it('CSRF_REFUSED, SIGN_IN_THROTTLED: a dashboard action without its token, and wrong keys at its sign-in', async () => {
      // The dashboard checks the Origin against the host it is served under: both named here.
      const site = { host: 'stratus.test', origin: 'http://stratus.test' };
      const signIn = await request(h.app).post('/ui/login').set(site).type('form').send({ key: auth.Authorization.slice('Bearer '.length) });
      expect(signIn.status).toBe(303);
      const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
      const forged = await request(h.app).post('/ui/functions/any/scale').set(site).set('cookie', cookie).type('form').send({ maxInstances: '3' });
      expectProblem('a dashboard action with the session cookie but no CSRF token', forged, 'CSRF_REFUSED');
      for (let i = 0; i < 10; i++) expect((await request(h.app).post('/ui/login').set(site).type('form').send({ key: `wrong-${i}` })).status).toBe(401);
      const throttled = await request(h.app).post('/ui/login').set(site).type('form').send({ key: 'wrong-again' });
      expectProblem('an eleventh wrong key at the dashboard sign-in within a minute', throttled, 'SIGN_IN_THROTTLED');
      expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
    });

    it('SERVICE_WORKER_REFUSED, MISDIRECTED_REQUEST: what function content may not do on the API\'s origin', async () => {
      const worker = await request(h.app).get('/fn/anything/sw.js').set('service-worker', 'script');
      expectProblem('a service worker script fetched from /fn/NAME on the API origin', worker, 'SERVICE_WORKER_REFUSED');
      const signIn = await request(h.app).post('/ui/login').set('host', 'localhost').type('form').send({ key: 'whatever' });
      expectProblem('a dashboard sign-in on localhost, a host *.fn.localhost can set cookies for', signIn, 'MISDIRECTED_REQUEST');
    });

    it('REQUEST_TIMEOUT: a request whose headers never finish (the gateway server with short timeouts)', async () => {
      // The platform's server keeps Node's defaults (60 s for headers); the same app and clientError
      // listener on a server with short ones show the answer without the wait.
      const server = http.createServer({ headersTimeout: 300, requestTimeout: 400, connectionsCheckingInterval: 50 }, h.app);
      server.on('clientError', answerClientError(silentLogger));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const port = (server.address() as net.AddressInfo).port;
        const res = await rawExchange(port, 'GET /v1/functions HTTP/1.1\r\nhost: x\r\nx-slow: ');
        expectProblem('headers unfinished past headersTimeout', res, 'REQUEST_TIMEOUT');
      } finally {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
    });
  });

  describe('data plane and builds (a real platform: process backend, real builder, scheduler, runtime)', () => {
    let stateDir: string;
    let platform: RunningPlatform;
    const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, ...init.headers } });
    const call = async (p: string, init: RequestInit = {}) => fromFetch(await fetch(`${platform.url}/fn/probe${p}`, init));

    // One function for every data-plane failure: one instance, one request at a time, a short timeout,
    // a small heap. It refuses to start without REQUIRED (what a PATCH removes at the end), and hijacks its
    // own runtime's server for /bad-response (what an image of one's own could do).
    const PROBE = `
import net from 'node:net';
if (!process.env.REQUIRED) {
  console.error('REQUIRED is not set');
  process.exit(3);
}
const emit = net.Server.prototype.emit;
net.Server.prototype.emit = function (event, ...args) {
  if (event === 'request' && (args[0].url ?? '').startsWith('/bad-response')) {
    args[0].socket.on('error', () => {});
    args[0].socket.write('HTTP/1.1 600 Nope\\r\\ncontent-length: 0\\r\\n\\r\\n');
    return true;
  }
  return emit.call(this, event, ...args);
};
export default async function (event) {
  switch (event.path) {
    case '/throw': throw new Error('the password is hunter2');
    case '/exit': process.exit(1);
    case '/sleep': await new Promise((r) => setTimeout(r, Number(event.query.ms))); return 'slept';
    case '/oom': { const keep = []; for (;;) keep.push(new Array(1e6).fill(7)); }
    default: return 'ok';
  }
}
`;

    beforeAll(async () => {
      stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-error-codes-'));
      platform = await startPlatform(
        loadConfig({
          STRATUS_PORT: '0', STRATUS_STATE_DIR: stateDir, STRATUS_API_KEY: 'test-key-0123456789abcdef', STRATUS_STORE: 'memory', STRATUS_BACKEND: 'process',
          STRATUS_STEM_POOL_SIZE: '0', STRATUS_QUEUE_DEPTH: '1', STRATUS_QUEUE_TIMEOUT_MS: '20000', STRATUS_MAX_UPLOAD_MB: '1', PATH: process.env.PATH,
        }),
        silentLogger,
      );
      const res = await deployFunction(platform, { name: 'probe', runtime: 'node', concurrency: 1, maxInstances: 1, timeoutMs: 3000, memoryMb: 64, env: { REQUIRED: 'yes' } }, { file: 'probe.js', content: PROBE });
      expect(res.status).toBe(202);
      const build = await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId, 60_000);
      expect(build).toMatchObject({ status: 'succeeded' });
      expect((await call('/')).body).toBe('ok');
      if (!withPython) return;
      const py = await deployFunction(platform, { name: 'probe-py', runtime: 'python' }, { file: 'main.py', content: 'def handler(event, context):\n    return "ok"\n' });
      expect(await waitForBuild(platform, ((await py.json()) as { buildId: string }).buildId, 60_000)).toMatchObject({ status: 'succeeded' });
    });
    afterAll(async () => {
      await platform?.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    });

    it('BAD_ARCHIVE and PAYLOAD_TOO_LARGE: an upload that is no archive, one past STRATUS_MAX_UPLOAD_MB', async () => {
      const junk = await deployFunction(platform, { name: 'junk', runtime: 'node' }, { file: 'code.zip', content: Buffer.from('PK\u0003\u0004 not really a zip') });
      expectProblem('upload a broken .zip', await fromFetch(junk), 'BAD_ARCHIVE');
      const big = await deployFunction(platform, { name: 'big', runtime: 'node' }, { file: 'index.js', content: Buffer.alloc(2 * 1024 * 1024, 'a') });
      expectProblem('upload 2 MB past a 1 MB limit', await fromFetch(big), 'PAYLOAD_TOO_LARGE');
    });

    it('FUNCTION_NOT_READY: the URL of a function whose first build failed', async () => {
      const res = await deployFunction(platform, { name: 'broken', runtime: 'node' }, { file: 'index.js', content: 'export default () => {\n' });
      const build = await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId, 60_000);
      expect(build.status).toBe('failed');
      expectProblem('GET /fn/broken', await fromFetch(await fetch(`${platform.url}/fn/broken`)), 'FUNCTION_NOT_READY');
    });

    it('FUNCTION_ERROR: the handler threw; the caller gets no message, the logs have it', async () => {
      const res = await call('/throw');
      const body = expectProblem('GET /fn/probe/throw', res, 'FUNCTION_ERROR');
      expect(res.headers['x-stratus-function-error']).toBe('unhandled');
      expect(JSON.stringify(body)).not.toContain('hunter2');
      expect(body.detail).toContain(`/v1/functions/probe/logs?requestId=${String(res.headers['x-stratus-request-id'])}`);
    });

    it.each(withPython ? ['probe', 'probe-py'] : ['probe'])('PAYLOAD_TOO_LARGE: a call to %s whose body is past the runtime\'s 32 MiB, answered by the runtime in the same shape', async (fn) => {
      const size = 33 * 1024 * 1024;
      const res = await new Promise<Answer>((resolve, reject) => {
        const req = http.request(`${platform.url}/fn/${fn}/upload`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': size } }, (r) => {
          let text = '';
          r.setEncoding('utf8');
          r.on('data', (d: string) => (text += d));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        // Written in pieces: the answer may come before the body is through, and then the rest is refused.
        const piece = Buffer.alloc(1024 * 1024, 'b');
        let sent = 0;
        const more = () => {
          while (sent < size) {
            sent += piece.length;
            if (!req.write(piece)) return void req.once('drain', more);
          }
          req.end();
        };
        req.on('response', () => (sent = size + 1));
        more();
      });
      expect(expectProblem(`POST 33 MiB to /fn/${fn}`, res, 'PAYLOAD_TOO_LARGE').detail).toMatch(/33554432 bytes/);
    });

    it('FUNCTION_TIMEOUT: a call past timeoutMs', async () => {
      expectProblem('GET /fn/probe/sleep?ms=3500 with timeoutMs 3000', await call('/sleep?ms=3500'), 'FUNCTION_TIMEOUT');
      // The instance's one slot stays taken until the handler ends: later calls would wait behind it.
      await idle();
    });

    it('FUNCTION_CRASHED: the function exits while answering', async () => {
      expectProblem('GET /fn/probe/exit', await call('/exit'), 'FUNCTION_CRASHED');
    });

    it('FUNCTION_OUT_OF_MEMORY: the function fills its heap past memoryMb', async () => {
      expectProblem('GET /fn/probe/oom with memoryMb 64', await call('/oom'), 'FUNCTION_OUT_OF_MEMORY');
    });

    it('FUNCTION_BAD_RESPONSE: the instance answers with a status that is no HTTP status', async () => {
      expectProblem('GET /fn/probe/bad-response', await call('/bad-response'), 'FUNCTION_BAD_RESPONSE');
    });

    it('REQUEST_HEADERS_TOO_LARGE: 20 KB of headers to the platform\'s own server', async () => {
      const port = Number(new URL(platform.url).port);
      const res = await rawExchange(port, `GET /fn/probe HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
      expectProblem('20 KB of headers', res, 'REQUEST_HEADERS_TOO_LARGE');
    });

    it('TOO_MANY_REQUESTS: the one instance busy and the queue of one full', async () => {
      expect((await call('/')).body).toBe('ok'); // an instance up, so the busy one is the slow call below
      const busy = call('/sleep?ms=800');
      await queued(0); // the slow call holds the instance
      const waiting = call('/sleep?ms=10');
      await queued(1);
      expectProblem('a third call while one runs and one waits', await call('/'), 'TOO_MANY_REQUESTS');
      expect((await busy).status).toBe(200);
      expect((await waiting).status).toBe(200);
    });

    it('ROLLOUT_ABANDONED, FUNCTION_UNAVAILABLE, INSTANCE_START_FAILED: a version that cannot start (REQUIRED removed by PATCH)', async () => {
      const patched = await api('/v1/functions/probe', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ env: { REQUIRED: null } }) });
      expect(patched.status).toBe(200);
      const { version, rollout } = (await patched.json()) as { version: number; rollout: string };
      // Its rollout found no ready instance: latest was not moved, the old version answers.
      expect(rollout).toMatch(/^abandoned: .*got no ready instance/);
      expect((await call('/')).body).toBe('ok');
      const put = await api('/v1/functions/probe/aliases/latest', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version }) });
      expectProblem('moving latest by hand to a version that cannot start', await fromFetch(put), 'ROLLOUT_ABANDONED');
      // Called by number, the version is in its crash-loop backoff: answered at once while it waits to try again…
      const atVersion = async () => fromFetch(await fetch(`${platform.url}/fn/probe@v${version}/`));
      const waiting = await atVersion();
      expectProblem('a call of the version during its backoff', waiting, 'FUNCTION_UNAVAILABLE');
      // …and once the backoff is over, the next call tries a start, which fails.
      await new Promise((r) => setTimeout(r, Number(waiting.headers['retry-after'] ?? 2) * 1000 + 200));
      let first = await atVersion();
      for (let i = 0; i < 20 && (first.body as { code?: string }).code === 'FUNCTION_UNAVAILABLE'; i++) {
        await new Promise((r) => setTimeout(r, 500));
        first = await atVersion();
      }
      const failed = expectProblem('the first call of the version after its backoff', first, 'INSTANCE_START_FAILED');
      expect(String(failed.detail)).toContain('/v1/functions/probe/logs');
      // Back to a version that starts, for what follows.
      await api('/v1/functions/probe', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ env: { REQUIRED: 'again' } }) });
    });

    it('SHUTTING_DOWN: a call waiting in the queue when Stratus stops', async () => {
      let ok = await call('/');
      for (let i = 0; i < 50 && ok.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 200));
        ok = await call('/');
      }
      expect(ok.body).toBe('ok');
      const busy = call('/sleep?ms=800');
      await queued(0);
      const waiting = call('/');
      await queued(1);
      const stopping = platform.stop();
      expectProblem('a queued call during stop', await waiting, 'SHUTTING_DOWN');
      expect((await busy).status).toBe(200); // the call in flight is drained, not cut
      await stopping;
    });

    /** Waits until no call of probe is in flight. */
    async function idle(): Promise<void> {
      for (let i = 0; i < 400; i++) {
        const { instances } = (await (await api('/v1/functions/probe/instances')).json()) as { instances: Array<{ inFlight: number }> };
        if (instances.every((x) => x.inFlight === 0)) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('probe stayed busy');
    }

    /** Waits until probe has one call in flight and `n` waiting in its queue (the scheduler's own view). */
    async function queued(n: number): Promise<void> {
      for (let i = 0; i < 400; i++) {
        const { instances } = (await (await api('/v1/functions/probe/instances')).json()) as { instances: Array<{ inFlight: number }> };
        const metrics = await (await api('/metrics')).text();
        const depth = Number(/^stratus_queue_depth\{function="probe"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
        if (instances.some((x) => x.inFlight === 1) && depth === n) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`never saw probe busy with ${n} call(s) queued`);
    }
  });

  it('provoked every code docs/errors.md documents', () => {
    expect(DOC_CODES.length).toBeGreaterThan(0);
    expect(DOC_CODES.filter((c) => !provoked.has(c))).toEqual([]);
  });
});
