// The function URL handler: /fn/NAME[/rest][?query], any method. It bypasses express entirely (no body
// parsers, no router) because it is the hot path: one id, one in-memory route lookup, then the proxy.
// The route carries the URL's HttpPolicy (key auth, methods, CORS), applied before anything else — the
// async intake included; a public URL's policy is the shared PUBLIC_POLICY, and costs one comparison.

import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { StratusError } from '../../core/errors.js';
import { FUNCTION_NAME } from '../../core/function-config.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { NEVER_RAN, billedMs, type InvocationRecord } from '../../core/store/invocations.js';
import type { DeployedVersion } from '../../core/types.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { InvocationMetrics } from '../../core/ports/metrics.js';
import { submitFromFunctionUrl } from './async-intake.js';
import type { AsyncInvocations } from '../../control/invocations/async-invocations.js';
import type { InvocationRecordSink } from '../../control/invocations/invocation-records.js';
import { answerPreflight, corsAnswer, isPreflight, PUBLIC_POLICY, refusal, sendRefusal, setAnswerHeaders, type AnswerHeaders } from './http-policy.js';
import { platformAnswerOf, sendProblem } from '../http/problem.js';
import { overflowed, requestIdOf } from '../http/proxy-peer.js';
import { QUALIFIER, sandboxed, type FunctionHost } from './origins.js';
import { framingProblem, proxyInvocation } from './proxy.js';
import type { Route, RouteTable } from './route-table.js';

export const FUNCTION_URL_PREFIX = '/fn/';

function syncRecord(id: string, target: DeployedVersion, arrivedAt: number, res: http.ServerResponse): InvocationRecord {
  const durationMs = performance.now() - arrivedAt;
  // A caller that left before any answer gets status 0: the call failed as far as anyone can tell.
  const statusCode = res.headersSent ? res.statusCode : 0;
  // The platform's own answer (a 429, a 504…) names its code; one given before the function ran bills nothing.
  const error = platformAnswerOf(res);
  return {
    id, function: target.function, version: target.version, trigger: 'http', start: new Date(Date.now() - durationMs).toISOString(), durationMs,
    statusCode, outcome: statusCode > 0 && statusCode < 500 && res.writableFinished ? 'succeeded' : 'failed',
    billedMs: error !== undefined && NEVER_RAN.has(error) ? 0 : billedMs(durationMs), memoryMb: target.config.memoryMb, ...(error ? { error } : {}),
  };
}


/**
 * Splits "/fn/NAME[@QUALIFIER]/rest?q" into the name, the alias or version asked for (null: latest) and the
 * path the function sees ("/rest?q", at least "/").
 */
export function parseFunctionUrl(url: string): { name: string; qualifier: string | null; path: string } | null {
  if (!url.startsWith(FUNCTION_URL_PREFIX)) return null;
  const rest = url.slice(FUNCTION_URL_PREFIX.length);
  const slash = rest.indexOf('/');
  const query = rest.indexOf('?');
  // The first "/" or "?" ends the name; two indexOf calls are cheaper than a regex search per request.
  const cut = slash === -1 ? query : query === -1 ? slash : Math.min(slash, query);
  const segment = cut === -1 ? rest : rest.slice(0, cut);
  const tail = cut === -1 ? '' : rest.slice(cut);
  const at = segment.indexOf('@');
  const name = at === -1 ? segment : segment.slice(0, at);
  const qualifier = at === -1 ? null : segment.slice(at + 1);
  if (!FUNCTION_NAME.test(name) || (qualifier !== null && !QUALIFIER.test(qualifier))) return null;
  return { name, qualifier, path: tail.startsWith('/') ? tail : `/${tail}` };
}

export interface InvokeDeps {
  routes: RouteTable;
  scheduler: Scheduler;
  metrics: InvocationMetrics;
  logger: Logger;
  clock: Clock;
  /** How long a handler may overrun its timeout before its instance is recycled (default HANDLER_GRACE_MS). */
  graceMs?: number;
  /** Every call's record, emitted when its answer ends (without I/O: the sink batches). */
  records?: InvocationRecordSink;
  /** Where `x-stratus-invocation-type: async` calls go; without it the header is refused. */
  async?: AsyncInvocations;
  /** The functions' domain (gateway/dataplane/origins.ts), named in the answer to a host that names no function. */
  functionsDomain?: string;
}

export const INVOCATION_TYPE_HEADER = 'x-stratus-invocation-type';

/** The two ways in: a function's own host (its origin), and /fn/NAME on the API's origin (sandboxed). */
export interface InvokeHandler {
  /** A request to NAME.<functions domain>: every path is the function's, served as it answers. */
  onFunctionHost(req: http.IncomingMessage, res: http.ServerResponse, host: FunctionHost | 'none'): void;
  /** A request to /fn/NAME/… on the API's origin: for programs; a browser gets an inert page (origins.ts). */
  onApiPath(req: http.IncomingMessage, res: http.ServerResponse): void;
}

export function createInvokeHandler(deps: InvokeDeps): InvokeHandler {
  const records = deps.records;
  const start = (req: http.IncomingMessage, res: http.ServerResponse, requestId: string, arrivedAt: number, route: Route, path: string, target: DeployedVersion, onApiOrigin: boolean) => {
    const { policy } = route;
    let answerHeaders: AnswerHeaders | undefined;
    if (policy !== PUBLIC_POLICY) {
      if (policy.cors !== null && isPreflight(req)) return answerPreflight(req, res, policy, target.function, requestId, deps.logger);
      answerHeaders = corsAnswer(req, policy);
      const refused = refusal(req, policy, target.function);
      if (refused) return sendRefusal(req, res, refused, policy, answerHeaders, requestId, deps.logger);
    }
    if (onApiOrigin) answerHeaders = sandboxed(answerHeaders);
    const timeoutMs = target.config.timeoutMs;
    const type = req.headers[INVOCATION_TYPE_HEADER];
    if (type !== undefined && type !== 'sync') {
      if (answerHeaders) setAnswerHeaders(res, answerHeaders);
      return submitFromFunctionUrl(req, res, requestId, target, deps.async, deps.logger, policy);
    }
    // The record is taken from the answer as the caller saw it, so it does not depend on how the proxy
    // works: a native data plane would emit the same from its access log.
    if (records) res.once('close', () => records.record(syncRecord(requestId, target, arrivedAt, res)));
    // The native proxy found its instances full: they are, whatever its last count said (a start, not a queue inside one).
    if (overflowed(req)) deps.scheduler.routedFull?.(target);
    proxyInvocation(req, res, {
      requestId, target, path, arrivedAt,
      deadline: deps.clock.now() + timeoutMs,
      scheduler: deps.scheduler, metrics: deps.metrics, logger: deps.logger, graceMs: deps.graceMs, answerHeaders,
    }, timeoutMs);
  };

  /** Refuses a request whose framing is in doubt; false when it answered already. */
  const admit = (req: http.IncomingMessage, res: http.ServerResponse, requestId: string): boolean => {
    if (req.headers['transfer-encoding'] !== undefined) {
      const refused = framingProblem(req);
      if (refused) {
        // The framing is in doubt, so is every byte after it on this connection: answer, then close.
        res.shouldKeepAlive = false;
        sendProblem(res, refused, requestId, deps.logger);
        return false;
      }
    }
    return true;
  };

  const dispatch = (req: http.IncomingMessage, res: http.ServerResponse, requestId: string, arrivedAt: number, name: string, qualifier: string | null, path: string, onApiOrigin: boolean) => {
    const cached = deps.routes.route(name);
    // The hot path: a cached route and no qualifier — synchronous, one pick (a constant unless latest is split).
    if (cached && qualifier === null) return start(req, res, requestId, arrivedAt, cached, path, cached.pick(), onApiOrigin);
    (cached ? Promise.resolve(cached) : deps.routes.resolveRoute(name))
      .then(async (route) => start(req, res, requestId, arrivedAt, route, path, qualifier === null ? route.pick() : (await deps.routes.qualified(route, qualifier))(), onApiOrigin))
      .catch((err: unknown) => {
        req.resume();
        sendProblem(res, err, requestId, deps.logger);
      });
  };

  const refuse = (req: http.IncomingMessage, res: http.ServerResponse, err: StratusError, requestId: string) => {
    req.resume();
    sendProblem(res, err, requestId, deps.logger);
  };

  return {
    // No res.setHeader on these paths: every answer carries the id in its own header list (the proxy's
    // writeHead, sendProblem), and a response without progressive headers lets writeHead take Node's fast path.
    onFunctionHost(req, res, host) {
      const arrivedAt = performance.now();
      const requestId = requestIdOf(req);
      if (!admit(req, res, requestId)) return;
      if (host === 'none') {
        return refuse(req, res, new StratusError('FUNCTION_NOT_FOUND', `a function's host is NAME.${deps.functionsDomain ?? 'fn.localhost'} (ALIAS.NAME.… or vN.NAME.… for an alias or a version), with NAME in lowercase letters, digits and "-"`), requestId);
      }
      dispatch(req, res, requestId, arrivedAt, host.name, host.qualifier, req.url ?? '/', false);
    },
    onApiPath(req, res) {
      const arrivedAt = performance.now();
      const requestId = requestIdOf(req);
      if (!admit(req, res, requestId)) return;
      // A service worker is the one thing a sandbox cannot stop once registered: browsers fetch its script with
      // this header, and no function script is ever one on the API's origin.
      if (req.headers['service-worker'] !== undefined) {
        return refuse(req, res, new StratusError('SERVICE_WORKER_REFUSED', `a function's script cannot be a service worker on the API's origin; serve it from the function's own host (${deps.functionsDomain ?? 'fn.localhost'})`), requestId);
      }
      const parsed = parseFunctionUrl(req.url ?? '/');
      if (!parsed) {
        return refuse(req, res, new StratusError('FUNCTION_NOT_FOUND', 'a function URL looks like /fn/NAME/…, with NAME in lowercase letters, digits and "-"'), requestId);
      }
      dispatch(req, res, requestId, arrivedAt, parsed.name, parsed.qualifier, parsed.path, true);
    },
  };
}
