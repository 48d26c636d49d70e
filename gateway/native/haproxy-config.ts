// The haproxy.cfg of the native data plane (issue 20): HAProxy serves warm function calls straight to the
// instances' unix sockets and hands everything else to Stratus, the activator. Stratus programs it while it
// runs through the runtime API (haproxy-runtime.ts) and never reloads it for a route or an instance:
//
// - HAProxy cannot create a backend at run time, so the config pre-creates `slots` empty backends (slot0 …);
//   a function version is given a slot, its instances are added to it as servers (`add server`), and its
//   route is one entry of the routes map (`set map`/`add map`): the function's name or NAME@QUALIFIER → slot.
// - A call is routed by its Host (`NAME.fn.<domain>`, every path the function's) and otherwise by a path
//   `/fn/NAME/…` (the prefix is removed, as the Node path does), the order the gateway follows (gateway/app.ts).
// - A mapped call goes to its slot only while the slot has a free connection (`be_conn_free`: servers up,
//   each below its maxconn = the function's concurrency). A slot with no server, or all full, falls back to the
//   activator at once, where Stratus starts instances, queues within its bound or answers 429: HAProxy never
//   holds a call in its own queue for an instance that may never come. `be_conn_free` takes a literal backend
//   name, so there is one `use_backend` rule per slot; a string compare each, measured in bench/native-path.ts
//   with the route on the last of 64 slots.
// - HAProxy makes the request id (unique-id-format) and passes it as x-stratus-request-id to the instance and
//   to the activator alike; its per-call line (the log-format below, parsed by call-lines.ts) carries it.
//
// Only loopback and unix sockets: the frontend binds a loopback address (or a unix socket), the instances and
// the activator are reached on unix sockets or loopback, never a container's bridge address.

import path from 'node:path';
import { REQUEST_ID_HEADER } from '../../core/invocation-contract.js';

/** Where something listens: a loopback port or a unix socket, never another address. */
export type LocalAddress = { host: '127.0.0.1' | '::1'; port: number } | { socketPath: string };

export interface NativeProxySettings {
  /** The folder of the config, the routes map, the runtime socket and the pid file. */
  dir: string;
  /** Where function-URL callers connect. */
  listen: LocalAddress;
  /** Stratus's own listener: everything not served warm goes there. */
  activator: LocalAddress;
  /** How many slot backends to pre-create: the most function versions served natively at once. */
  slots: number;
  /** The functions' domain: NAME.<domain> is a function's host (STRATUS_FUNCTIONS_DOMAIN's default: fn.localhost). */
  functionsDomain: string;
  /** Where HAProxy sends one line per call: syslog over UDP to this loopback port (call-lines.ts reads it). */
  callLines: { host: '127.0.0.1' | '::1'; port: number };
  /** How long a call may take at most (the longest function timeout plus its grace), ms. */
  callTimeoutMs: number;
}

/** The files under `dir` the config names and Stratus works with. */
export function nativeProxyFiles(dir: string) {
  return {
    config: path.join(dir, 'haproxy.cfg'),
    routes: path.join(dir, 'routes.map'),
    runtimeSocket: path.join(dir, 'runtime.sock'),
    pidFile: path.join(dir, 'haproxy.pid'),
  };
}

export const slotName = (i: number): string => `slot${i}`;
/** The backend of everything the slots do not serve. */
export const ACTIVATOR_BACKEND = 'activator';
/** The frontend of function URLs (its counters count every call, whichever backend served it). */
export const FUNCTIONS_FRONTEND = 'functions';

/**
 * The per-call line, space-separated, every field without spaces: request id, function (the route's key, "-"
 * when not routed natively), backend (a slot or the activator), server (the instance, "-" when none),
 * status, Tr (ms to the answer's headers, -1 without an answer), Ta (ms of the whole call), bytes up,
 * bytes down, termination state (HAProxy's 4 characters, "----" for a clean end).
 */
export const CALL_LINE_FORMAT = '%ID %[var(txn.fn)] %b %s %ST %Tr %Ta %U %B %tsc';

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

export function renderHaproxyConfig(s: NativeProxySettings): string {
  if (!Number.isInteger(s.slots) || s.slots < 1) throw new Error(`slots: ${s.slots} is not a positive number`);
  if (!DOMAIN.test(s.functionsDomain)) throw new Error(`functionsDomain: "${s.functionsDomain}" is not a lowercase domain`);
  const files = nativeProxyFiles(s.dir);
  const lines = address({ ...s.callLines }, 'callLines');
  const slotRules: string[] = [];
  const slotBackends: string[] = [];
  for (let i = 0; i < s.slots; i++) {
    const slot = slotName(i);
    slotRules.push(`  use_backend ${slot} if { var(txn.slot) -m str ${slot} } { be_conn_free(${slot}) gt 0 }`);
    slotBackends.push(`backend ${slot}\n  balance leastconn\n  http-request set-path %[path,regsub(^/fn/[^/]*/?,/)] if { var(txn.by_path) -m int 1 }\n`);
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

frontend ${FUNCTIONS_FRONTEND}
  bind ${address(s.listen, 'listen')}
  # One line per call, as syslog over UDP on loopback, read by gateway/native/call-lines.ts; a line lost is
  # counted there against this frontend's request counter (show stat). Here and not global: HAProxy's own
  # events (a server up or down) would be mixed with the calls.
  log ${lines} len 1024 format raw local0 info
  unique-id-format %[uuid]
  log-format "${CALL_LINE_FORMAT}"
  # A function's own host first (every path is the function's), then /fn/NAME/… on any other host.
  # NAME.<domain> exactly: one label before the domain ([.] is a literal dot without HAProxy's backslash rules).
  acl fn_host req.hdr(host),field(1,:),lower -m reg ^[a-z0-9-]+[.]${s.functionsDomain.replaceAll('.', '[.]')}$
  acl fn_path path_beg /fn/
  http-request set-var(txn.key) req.hdr(host),field(1,:),lower,field(1,.) if fn_host
  http-request set-var(txn.key) path,field(3,/) if !fn_host fn_path
  http-request set-var(txn.by_path) int(1) if !fn_host fn_path
  http-request set-var(txn.slot) var(txn.key),map(${files.routes})
  http-request set-var(txn.fn) var(txn.key) if { var(txn.slot) -m found }
  # The id is HAProxy's on every call (a caller's own value never reaches a function).
  http-request set-header ${REQUEST_ID_HEADER} %[unique-id]
${slotRules.join('\n')}
  default_backend ${ACTIVATOR_BACKEND}

${slotBackends.join('\n')}
backend ${ACTIVATOR_BACKEND}
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  server ${ACTIVATOR_BACKEND} ${address(s.activator, 'activator')} pool-max-conn -1 pool-purge-delay 100ms
`;
}
