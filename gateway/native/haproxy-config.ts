// The haproxy.cfg of the native data plane (issue 20): HAProxy serves warm function calls straight to the
// instances' unix sockets and hands everything else to Stratus, the activator. Stratus programs it while it
// runs through the runtime API (haproxy-runtime.ts) and never reloads it for a route or an instance:
//
// - HAProxy cannot create a backend at run time, so the config pre-creates `slots` empty backends (slot0 …);
//   a function version is given a slot, its instances are added to it as servers (`add server`), its route
//   is one entry of the routes map (`set map`/`add map`): the function's name or NAME@QUALIFIER → slot, and
//   its timeout one entry of the timeouts map: slot → ms.
// - A call is routed by its Host (`NAME.fn.<domain>`, every path the function's) and otherwise by a path
//   `/fn/NAME/…` (the prefix is removed, as the Node path does), the order the gateway follows (gateway/app.ts).
//   What Stratus answers itself never goes to a slot: an async call (x-stratus-invocation-type), a service
//   worker's fetch on the API's origin (refused there), `/fn/` without a name.
// - A mapped call goes to its slot only while the slot has a free connection (`be_conn_free`: servers up,
//   each below its maxconn = the function's concurrency). A slot with no server, or all full, falls back to the
//   activator at once, where Stratus starts instances, queues within its bound or answers 429: HAProxy never
//   holds a call in its own queue for an instance that may never come. `be_conn_free` takes a literal backend
//   name, so there is one `use_backend` rule per slot; a string compare each, measured in bench/native-path.ts
//   with the route on the last of 64 slots.
// - A call served by a slot is treated as the Node path treats it (gateway/dataplane/proxy.ts, origins.ts,
//   streamed-call.ts): the platform's headers in (request id, deadline, forwarded-*), the caller's copies and
//   its invoke key out; the function's timeout; the API origin's sandbox on /fn/NAME answers; HAProxy's own
//   errors as problem+json (haproxy-errors.ts).
// - HAProxy makes the request id (unique-id-format) and passes it as x-stratus-request-id to the instance and
//   to the activator alike; its per-call line (the log-format below, parsed by call-lines.ts) carries it.
//
// Only loopback and unix sockets: the frontend binds a loopback address (or a unix socket), the instances and
// the activator are reached on unix sockets or loopback, never a container's bridge address.

import { CLIENT_ADDRESS_HEADER, OVERFLOW_HEADER } from '../http/proxy-peer.js';
import path from 'node:path';
import { DEADLINE_HEADER, INVOKE_KEY_HEADER, REQUEST_ID_HEADER } from '../../core/invocation-contract.js';
import { SANDBOXED_ANSWER } from '../dataplane/origins.js';
import { defaultErrorRules, slotErrorRules, slotResponseChecks } from './haproxy-errors.js';

/** Where something listens: a loopback port or a unix socket, never another address. */
export type LocalAddress = { host: '127.0.0.1' | '::1'; port: number } | { socketPath: string };

export interface NativeProxySettings {
  /** The folder of the config, the maps, the runtime socket and the pid file (private: the config holds lineToken). */
  dir: string;
  /** Where function-URL callers connect. */
  listen: LocalAddress;
  /**
   * Stratus's own listener: everything not served warm goes there. A unix socket in production: Stratus
   * trusts x-stratus-client-address (set here from the caller's address) only on that socket.
   */
  activator: LocalAddress;
  /** How many slot backends to pre-create: the most function versions served natively at once. */
  slots: number;
  /** The functions' domain: NAME.<domain> is a function's host (STRATUS_FUNCTIONS_DOMAIN's default: fn.localhost). */
  functionsDomain: string;
  /** Where HAProxy sends one line per call: syslog over UDP to this loopback port (call-lines.ts reads it). */
  callLines: { host: '127.0.0.1' | '::1'; port: number };
  /**
   * A random hex token Stratus makes per start (32 to 64 hex digits), the first field of every call line:
   * any local process can send a datagram to the reader's port, only HAProxy knows the token.
   */
  lineToken: string;
  /** How long a call may take at most (the longest function timeout plus its grace), ms; a slot's timeout when the timeouts map has none. */
  callTimeoutMs: number;
}

/** The files under `dir` the config names and Stratus works with. */
export function nativeProxyFiles(dir: string) {
  return {
    config: path.join(dir, 'haproxy.cfg'),
    /** Route key (NAME, later NAME@QUALIFIER) → slot. */
    routes: path.join(dir, 'routes.map'),
    /** Slot → the timeout of the function version it serves, ms (set with the route, before the first server). */
    timeouts: path.join(dir, 'timeouts.map'),
    runtimeSocket: path.join(dir, 'runtime.sock'),
    pidFile: path.join(dir, 'haproxy.pid'),
  };
}

export const slotName = (i: number): string => `slot${i}`;
/** The backend of everything the slots do not serve. */
export const ACTIVATOR_BACKEND = 'activator';
/** The frontend of function URLs (its counters count every call, whichever backend served it). */
export const FUNCTIONS_FRONTEND = 'functions';
/** The caller's address, as HAProxy saw it, on calls to the activator (HAProxy removes a caller's own copy). */
export { CLIENT_ADDRESS_HEADER };

/**
 * The per-call line after its first field, the line token (callLineFormat), space-separated, every field
 * without spaces: request id, function (the route's key, "-" when not routed natively), backend (a slot or
 * the activator), server (the instance, "-" when none), status, Tr (ms to the answer's headers, -1 without an
 * answer), Ta (ms of the whole call), bytes up, bytes down, termination state (HAProxy's 4 characters, "----"
 * for a clean end).
 */
export const CALL_LINE_FORMAT = '%ID %[var(txn.fn)] %b %s %ST %Tr %Ta %U %B %tsc';

/** What HAProxy writes per call: the line token, then CALL_LINE_FORMAT's fields. */
export function callLineFormat(lineToken: string): string {
  return `${checkLineToken(lineToken)} ${CALL_LINE_FORMAT}`;
}

export const LINE_TOKEN = /^[0-9a-f]{32,64}$/;

export function checkLineToken(token: string): string {
  if (!LINE_TOKEN.test(token)) throw new Error('lineToken: not 32 to 64 lowercase hex digits');
  return token;
}

const LOOPBACK = new Set(['127.0.0.1', '::1']);
const DOMAIN = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;

function address(a: LocalAddress, what: string): string {
  if ('socketPath' in a) {
    if (!path.isAbsolute(a.socketPath) || /\s/.test(a.socketPath)) throw new Error(`${what}: "${a.socketPath}" is not an absolute socket path without spaces`);
    return `unix@${a.socketPath}`;
  }
  if (!LOOPBACK.has(a.host)) throw new Error(`${what}: ${String(a.host)} is not a loopback address (the native proxy binds and connects to loopback or unix sockets only)`);
  if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535) throw new Error(`${what}: ${a.port} is not a port`);
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** SANDBOXED_ANSWER (origins.ts) as http-after-response rules for calls routed by /fn/NAME. */
function sandboxRules(): string[] {
  const rules: string[] = [];
  // The request id is dropped by the Node path only to be set again; here it is set for every answer below.
  for (const name of SANDBOXED_ANSWER.drop) if (name !== REQUEST_ID_HEADER) rules.push(`http-after-response del-header ${name} if by_path`);
  const add = SANDBOXED_ANSWER.add;
  for (let i = 0; i < add.length; i += 2) rules.push(`http-after-response add-header ${add[i]!} ${add[i + 1]!} if by_path`);
  return rules;
}

/** A slot backend: the function version's instances, and the Node path's treatment of a call (proxy.ts). */
function slotBackend(slot: string, files: ReturnType<typeof nativeProxyFiles>, callTimeoutMs: number): string {
  const rules = [
    'balance leastconn',
    'acl by_path var(txn.by_path) -m int 1',
    ...slotErrorRules(),
    ...slotResponseChecks(),
    'http-request set-path %[path,regsub(^/fn/[^/]*/?,/)] if by_path',
    // The function's timeout: HAProxy answers 504 when the instance has not answered within it (an idle
    // answer stream counts too: `timeout server` is HAProxy's inactivity timeout towards the server).
    `http-request set-var(txn.timeout_ms) str(${slot}),map_str_int(${files.timeouts},${callTimeoutMs})`,
    'http-request set-timeout server var(txn.timeout_ms)',
    // Set by the platform, never the caller's: set-header removes every copy the caller sent first. A
    // function never sees an invoke key, nor a client address meant for the activator.
    `http-request set-header ${DEADLINE_HEADER} %[date(0,ms),add(txn.timeout_ms)]`,
    `http-request del-header ${INVOKE_KEY_HEADER}`,
    `http-request del-header ${CLIENT_ADDRESS_HEADER}`,
    // The caller's X-Forwarded-For stays and HAProxy adds its address as one more (proxy.ts joins them).
    'option forwardfor',
    'http-request set-header x-forwarded-proto http',
    'http-request del-header x-forwarded-host',
    'http-request set-header x-forwarded-host %[req.hdr(host)] if { req.hdr(host) -m found }',
    // The instance's own id, if it sent one, is replaced by the call's (on HAProxy's own answers too).
    `http-after-response set-header ${REQUEST_ID_HEADER} %[unique-id]`,
    ...sandboxRules(),
  ];
  return `backend ${slot}\n${rules.map((r) => `  ${r}`).join('\n')}\n`;
}

export function renderHaproxyConfig(s: NativeProxySettings): string {
  if (!Number.isInteger(s.slots) || s.slots < 1) throw new Error(`slots: ${s.slots} is not a positive number`);
  if (!DOMAIN.test(s.functionsDomain)) throw new Error(`functionsDomain: "${s.functionsDomain}" is not a lowercase domain`);
  if (!Number.isInteger(s.callTimeoutMs) || s.callTimeoutMs < 1) throw new Error(`callTimeoutMs: ${s.callTimeoutMs} is not a positive number of ms`);
  const files = nativeProxyFiles(s.dir);
  const lines = address({ ...s.callLines }, 'callLines');
  const format = callLineFormat(s.lineToken);
  const slotRules: string[] = [];
  const slotBackends: string[] = [];
  for (let i = 0; i < s.slots; i++) {
    const slot = slotName(i);
    slotRules.push(`  use_backend ${slot} if { var(txn.slot) -m str ${slot} } { be_conn_free(${slot}) gt 0 }`);
    slotBackends.push(slotBackend(slot, files, s.callTimeoutMs));
  }
  return `# Written by gateway/native/haproxy-config.ts: the native data plane. Routes and servers change at run
# time through the runtime socket; a reload loses them (Stratus replays them).
global
  pidfile ${files.pidFile}
  maxconn 8192
  stats socket ${files.runtimeSocket} mode 600 level admin

defaults
  mode http
  option dontlognull
  timeout connect 2s
  timeout client ${s.callTimeoutMs}ms
  timeout server ${s.callTimeoutMs}ms
  timeout http-request 30s
  timeout http-keep-alive 60s
  # A call that found a free connection by be_conn_free but lost it to a call of the same instant waits here
  # for a moment rather than failing; it never waits for an instance to start (that is the activator's).
  timeout queue 5s
  # Reused connections to instances only where a request cannot be lost on a race with the instance closing
  # them; a failed connect (an instance just gone) is retried on another server, nothing else: a call may
  # be a POST that already ran.
  http-reuse safe
  retries 2
  retry-on conn-failure
  option redispatch 1
  # HAProxy's own answers as problem+json (haproxy-errors.ts); a slot backend's own rules name the function.
${defaultErrorRules().map((r) => `  ${r}`).join('\n')}

frontend ${FUNCTIONS_FRONTEND}
  bind ${address(s.listen, 'listen')}
  # One line per call, as syslog over UDP on loopback, read by gateway/native/call-lines.ts; a line lost is
  # counted there against this frontend's request counter (show stat). Here and not global: HAProxy's own
  # events (a server up or down) would be mixed with the calls. Its first field is the line token.
  log ${lines} len 1024 format raw local0 info
  unique-id-format %[uuid]
  log-format "${format}"
  # A function's own host first (every path is the function's), then /fn/NAME/… on any other host.
  # NAME.<domain> exactly: one label before the domain ([.] is a literal dot without HAProxy's backslash rules).
  acl fn_host req.hdr(host),field(1,:),lower -m reg ^[a-z0-9-]+[.]${s.functionsDomain.replaceAll('.', '[.]')}$
  acl fn_path path_beg /fn/
  acl fn_named path,field(3,/) -m len 1:
  # What Stratus answers itself: an async call (queued, 202) and, on the API's origin, a service worker's
  # script fetch (refused); a sync call may say so in the same header and still goes to Stratus.
  acl async req.hdr(x-stratus-invocation-type) -m found
  acl service_worker req.hdr(service-worker) -m found
  http-request set-var(txn.key) req.hdr(host),field(1,:),lower,field(1,.) if fn_host
  http-request set-var(txn.key) path,field(3,/) if !fn_host fn_path fn_named
  http-request set-var(txn.by_path) int(1) if !fn_host fn_path fn_named
  http-request set-var(txn.slot) var(txn.key),map(${files.routes}) if !async fn_host || !async !service_worker
  http-request set-var(txn.fn) var(txn.key) if { var(txn.slot) -m found }
  # The id is HAProxy's on every call (a caller's own value never reaches a function).
  http-request set-header ${REQUEST_ID_HEADER} %[unique-id]
${slotRules.join('\n')}
  default_backend ${ACTIVATOR_BACKEND}

${slotBackends.join('\n')}
backend ${ACTIVATOR_BACKEND}
  # No X-Forwarded-For appended here: Stratus appends the client (from the header below) as it does for any caller.
  http-request set-header X-Forwarded-Proto http
  # The caller's address for Stratus's limits and records: a caller's own copy is replaced (set-header).
  http-request set-header ${CLIENT_ADDRESS_HEADER} %[src]
  # A routed call here found its slot full (or empty): Stratus counts the slot's instances busy (a start, not a queue).
  http-request del-header ${OVERFLOW_HEADER}
  http-request set-header ${OVERFLOW_HEADER} 1 if { var(txn.slot) -m found }
  server ${ACTIVATOR_BACKEND} ${address(s.activator, 'activator')} pool-max-conn -1 pool-purge-delay 100ms
`;
}
