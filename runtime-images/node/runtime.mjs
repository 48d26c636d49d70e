// Stratus in-container runtime for Node.js: an HTTP server (unix socket or TCP) that loads one
// function's code and runs it per request. The protocol is in runtime-images/README.md.
//
// State machine (the idea of openwhisk's nodejs service.js):
//   function role: loading -> ready            (load failure: exit 1)
//   stem role:     stem -> initializing -> ready (init failure: back to stem, 400; /init when not stem: 409)
//   any state -> draining on SIGTERM/SIGINT (new connections refused, in-flight finish, exit 0)

import http from 'node:http';
import { chmodSync, unlinkSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { setImmediate } from 'node:timers';
import { loadHandler, HandlerLoadError } from './handler-loader.mjs';
import { invocationStore, createLogger, installConsoleCapture, logInvocation } from './invocation-logs.mjs';
import { buildEvent, readBody, writeResult, sendProblem, BodyTooLargeError } from './http-mapping.mjs';
import { CodeFetchError, fetchCode, unpackCode, warmUp } from './code-fetch.mjs';

const env = process.env;
const settings = {
  socketPath: env.STRATUS_SOCKET || null,
  port: Number(env.PORT || 8080),
  stem: env.STRATUS_STEM === '1' || env.STRATUS_STEM === 'true',
  codeDir: env.STRATUS_CODE_DIR || '/app',
  handler: env.STRATUS_HANDLER || 'index.handler',
  functionName: env.STRATUS_FUNCTION_NAME || null,
  version: env.STRATUS_FUNCTION_VERSION ? Number(env.STRATUS_FUNCTION_VERSION) : null,
  timeoutMs: Number(env.STRATUS_TIMEOUT_MS || 30_000),
  maxBodyBytes: Number(env.STRATUS_MAX_BODY_BYTES || 32 * 1024 * 1024),
  drainMs: 10_000,
  // Code over HTTP (POST /init with codeUrl): where to connect, and the bounds on what is fetched.
  codeSocket: env.STRATUS_CODE_SOCKET || null,
  codeMaxBytes: Number(env.STRATUS_CODE_MAX_BYTES || 256 * 1024 * 1024),
  codeMaxUnpackedBytes: Number(env.STRATUS_CODE_MAX_UNPACKED_BYTES || 1024 * 1024 * 1024),
  codeMaxEntries: Number(env.STRATUS_CODE_MAX_ENTRIES || 200_000),
  codeFetchTimeoutMs: Number(env.STRATUS_CODE_FETCH_TIMEOUT_MS || 60_000),
};

// The function's concurrency per instance, held here rather than by each caller: several Stratus replicas
// route to one instance, each counting only its own calls, so the instance is where the limit holds for the
// platform (as Knative's queue-proxy does). Calls past it wait their turn, first come first served.
const slots = { limit: positiveInt(env.STRATUS_CONCURRENCY), running: 0, waiting: [] };

function positiveInt(raw) {
  const n = Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : Infinity;
}

function takeSlot() {
  if (slots.running < slots.limit) {
    slots.running++;
    return null;
  }
  return new Promise((resolve) => slots.waiting.push(resolve));
}

function giveSlot() {
  const next = slots.waiting.shift();
  if (next) next(); // the slot passes on: running stays the same
  else slots.running--;
}

const state = {
  phase: settings.stem ? 'stem' : 'loading',
  handler: null,
  functionName: settings.functionName,
  version: settings.version,
  timeoutMs: settings.timeoutMs,
  inFlight: 0,
};

function note(msg) {
  process.stderr.write(`stratus-runtime: ${msg}\n`);
}

function sendJson(res, status, obj, headers) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

// The context a handler gets; remainingMs is a prototype method so no closure is made per request.
class InvocationContext {
  constructor(requestId, deadline) {
    this.requestId = requestId;
    this.functionName = state.functionName;
    this.version = state.version;
    this.deadline = deadline;
    this.logger = createLogger(requestId);
  }
  remainingMs() {
    return Math.max(0, this.deadline - Date.now());
  }
}

function functionErrorDetail(err, requestId) {
  const kind = err instanceof Error ? String(err.name).slice(0, 100) : 'a non-Error value';
  const where = state.functionName ? `see GET /v1/functions/${state.functionName}/logs?requestId=${requestId}` : `its message and stack are in the log under request id ${requestId}`;
  return `the function threw ${kind === 'a non-Error value' ? kind : `an error (${kind})`}; ${where}`;
}

async function invoke(req, res, requestId) {
  res.setHeader('x-stratus-request-id', requestId);
  if (state.phase !== 'ready' && state.phase !== 'draining') {
    req.resume();
    return sendProblem(res, 'FUNCTION_UNAVAILABLE', `the function's runtime is ${state.phase}, not ready for invocations; retry`);
  }
  if (state.handler === null) {
    req.resume();
    return sendProblem(res, 'FUNCTION_UNAVAILABLE', "the function's runtime has no function loaded; retry");
  }
  let raw;
  try {
    raw = await readBody(req, settings.maxBodyBytes);
  } catch (err) {
    if (err instanceof BodyTooLargeError) {
      // No "connection: close": Node then reads and drops the rest of the body before the next request.
      // Closing on unread bytes makes the kernel reset the connection, and the reset can destroy this
      // answer before the gateway has read it (it came as a 502).
      return sendProblem(res, 'PAYLOAD_TOO_LARGE', `the request body is larger than the function accepts (${settings.maxBodyBytes} bytes); send a smaller one`);
    }
    res.destroy();
    return;
  }
  const deadlineHeader = Number(req.headers['x-stratus-deadline-ms']);
  const deadline = deadlineHeader > 0 ? deadlineHeader : Date.now() + state.timeoutMs;
  const context = new InvocationContext(requestId, deadline);
  const handler = state.handler;
  const turn = takeSlot();
  if (turn !== null) await turn;
  // A caller that gave up while waiting for its turn gets no handler run.
  if (res.destroyed) return giveSlot();
  try {
    const result = await invocationStore.run(requestId, () => handler(buildEvent(req, raw), context));
    // Draining: tell the client this connection ends with this response, so it does not reuse it.
    if (state.phase === 'draining') res.setHeader('connection', 'close');
    await writeResult(res, result);
  } catch (err) {
    const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
    logInvocation(requestId, 'error', `unhandled error: ${stack}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // Headers a result set before it failed are not the error's; the message may hold what the function
    // keeps to itself (a connection string, a path): it goes to the function's log, not to the caller.
    for (const name of res.getHeaderNames()) if (name !== 'x-stratus-request-id') res.removeHeader(name);
    sendProblem(res, 'FUNCTION_ERROR', functionErrorDetail(err, requestId), { 'x-stratus-function-error': 'unhandled' });
  } finally {
    giveSlot();
  }
}

async function init(req, res) {
  if (state.phase !== 'stem') {
    req.resume();
    return sendProblem(res, 'CONFLICT', `runtime is ${state.phase}; /init is accepted once, by a stem`);
  }
  state.phase = 'initializing';
  let spec;
  try {
    spec = JSON.parse((await readBody(req, 1024 * 1024)).toString('utf8'));
    if (spec === null || typeof spec !== 'object') throw new HandlerLoadError('body must be a JSON object');
    const remote = typeof spec.codeUrl === 'string';
    if (!remote && typeof spec.codeDir !== 'string') throw new HandlerLoadError('body must have a string "codeDir", or "codeUrl" with "sha256"');
    if (remote && (typeof spec.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(spec.sha256))) throw new HandlerLoadError('"sha256" must be the hex SHA-256 of the code at "codeUrl"');
  } catch (err) {
    if (state.phase === 'initializing') state.phase = 'stem';
    const message = err instanceof HandlerLoadError ? err.message : 'body must be JSON: { codeDir | codeUrl, sha256, handler, function, version, env }';
    return sendProblem(res, 'INVALID_REQUEST', message);
  }
  let codeDir = spec.codeDir;
  if (typeof spec.codeUrl === 'string') {
    try {
      const gz = await fetchCode(spec.codeUrl, spec.sha256, { socketPath: settings.codeSocket, maxBytes: settings.codeMaxBytes, timeoutMs: settings.codeFetchTimeoutMs });
      codeDir = await unpackCode(gz, { maxUnpackedBytes: settings.codeMaxUnpackedBytes, maxEntries: settings.codeMaxEntries });
    } catch (err) {
      if (state.phase === 'initializing') state.phase = 'stem';
      note(`init failed: ${err instanceof Error ? err.message : String(err)}`);
      const why = err instanceof CodeFetchError ? err.message : `unpacking it failed (${err instanceof Error ? err.message : String(err)})`;
      return sendProblem(res, 'INVALID_REQUEST', `the code cannot be loaded: ${why}`);
    }
  }
  try {
    if (spec.env !== null && typeof spec.env === 'object') {
      for (const [k, v] of Object.entries(spec.env)) env[k] = String(v);
    }
    const handler = await loadHandler(codeDir, typeof spec.handler === 'string' ? spec.handler : 'index.handler');
    state.handler = handler;
    state.functionName = typeof spec.function === 'string' ? spec.function : state.functionName;
    state.version = typeof spec.version === 'number' ? spec.version : state.version;
    if (typeof spec.timeoutMs === 'number' && spec.timeoutMs > 0) state.timeoutMs = spec.timeoutMs;
    if (spec.concurrency !== undefined) slots.limit = positiveInt(spec.concurrency);
    if (state.phase === 'initializing') state.phase = 'ready';
    sendJson(res, 200, { status: 'ready' });
  } catch (err) {
    if (state.phase === 'initializing') state.phase = 'stem';
    const message = err instanceof HandlerLoadError ? err.message : 'loading the handler failed';
    note(`init failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    sendProblem(res, 'INVALID_REQUEST', `the handler cannot be loaded: ${message}`);
  }
}

function onRequest(req, res) {
  state.inFlight++;
  res.on('close', onRequestDone);
  const requestId = req.headers['x-stratus-request-id'];
  if (requestId === undefined) {
    const url = req.url;
    if (req.method === 'GET' && (url === '/healthz' || url.startsWith('/healthz?'))) {
      const ok = state.phase === 'ready' || state.phase === 'stem' || state.phase === 'initializing';
      return sendJson(res, ok ? 200 : 503, { status: state.phase });
    }
    if (req.method === 'POST' && (url === '/init' || url.startsWith('/init?'))) return void init(req, res);
    return void invoke(req, res, randomUUID());
  }
  void invoke(req, res, Array.isArray(requestId) ? requestId[0] : requestId);
}

let onIdle = null;
function onRequestDone() {
  state.inFlight--;
  if (state.inFlight === 0 && onIdle !== null) onIdle();
}

const server = http.createServer({ keepAlive: true, requestTimeout: 0 }, onRequest);
server.keepAliveTimeout = 65_000;

function drain(signal) {
  if (state.phase === 'draining') return;
  state.phase = 'draining';
  note(`${signal}: draining ${state.inFlight} in-flight invocation(s)`);
  server.close();
  server.closeIdleConnections();
  const exit = () => process.exit(0);
  setTimeout(() => {
    note(`drain timeout: exiting with ${state.inFlight} invocation(s) unfinished`);
    exit();
  }, settings.drainMs).unref();
  onIdle = () => {
    server.closeIdleConnections();
    setImmediate(exit);
  };
  if (state.inFlight === 0) onIdle();
}

function listen() {
  if (settings.socketPath !== null) {
    try {
      unlinkSync(settings.socketPath);
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    server.listen(settings.socketPath, () => {
      chmodSync(settings.socketPath, 0o666);
      note(`listening on unix:${settings.socketPath} (${state.phase})`);
      if (settings.stem) void warmUp({ socketPath: settings.socketPath });
    });
  } else {
    server.listen(settings.port, '0.0.0.0', () => {
      note(`listening on 0.0.0.0:${settings.port} (${state.phase})`);
      if (settings.stem) void warmUp({ host: '127.0.0.1', port: settings.port });
    });
  }
}

process.on('SIGTERM', () => drain('SIGTERM'));
process.on('SIGINT', () => drain('SIGINT'));
// One invocation's forgotten promise must not take down the others running beside it.
process.on('unhandledRejection', (reason) => {
  const rid = invocationStore.getStore();
  const text = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
  if (rid !== undefined) logInvocation(rid, 'error', `unhandled rejection: ${text}`);
  else note(`unhandled rejection: ${text}`);
});

installConsoleCapture();
server.on('error', (err) => {
  note(`server error: ${err.message}`);
  process.exit(1);
});
listen();

if (!settings.stem) {
  loadHandler(settings.codeDir, settings.handler).then(
    (handler) => {
      state.handler = handler;
      if (state.phase === 'loading') state.phase = 'ready';
    },
    (err) => {
      note(`cannot load handler "${settings.handler}" from ${settings.codeDir}: ${err.message}`);
      if (!(err instanceof HandlerLoadError) && err instanceof Error) note(err.stack ?? '');
      process.exit(1);
    },
  );
}
