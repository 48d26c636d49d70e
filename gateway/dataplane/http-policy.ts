// What a function URL accepts, compiled once from the function's http trigger and its invoke keys when the
// route table loads the function (so a call costs no store read), and the checks the invoke handler runs
// before proxying. Without an http trigger the URL is public, takes any method and knows no CORS: the
// shared PUBLIC_POLICY, which the hot path recognises by identity and skips every check for.
//
// CORS follows the Fetch standard's CORS protocol: a preflight is answered here and never reaches the
// function; a refused one gets 403 without any CORS header (what the standard suggests to "denote this
// explicitly"); an actual call gets the CORS headers added to the function's answer, replacing any the
// function sent itself (as Lambda function URLs do: the URL's CORS settings take precedence).

import type http from 'node:http';
import { StratusError } from '../../core/errors.js';
import type { InvokeKeyRecord } from '../../core/store/triggers.js';
import type { HttpTrigger } from '../../core/triggers.js';
import { sendProblem } from '../http/problem.js';

import type { Logger } from '../../core/log.js';
import { INVOKE_KEY_HEADER, REQUEST_ID_HEADER, hashInvokeKey } from '../../core/invocation-contract.js';

/** Headers the gateway adds to a function's answer, and the names of the function's own it drops for them. */
export interface AnswerHeaders {
  /** Name, value, name, value… */
  readonly add: readonly string[];
  /** Lower-case names left out of the function's answer (the request id header among them). */
  readonly drop: ReadonlySet<string>;
}

interface CorsPolicy {
  /** "*" is listed: any origin, answered "*" (never with credentials: the trigger's schema refuses that). */
  readonly anyOrigin: boolean;
  readonly origins: ReadonlySet<string>;
  /** Methods a preflight may ask for, and their Access-Control-Allow-Methods value. */
  readonly methods: ReadonlySet<string>;
  readonly allowMethods: string;
  /** "*" in allowHeaders: any request header (the preflight's list is echoed, which also works with credentials). */
  readonly anyHeader: boolean;
  readonly headers: ReadonlySet<string>;
  readonly allowHeaders: string;
  readonly maxAge: string;
  readonly credentials: boolean;
  /** An answer to a call from an allowed origin, after Access-Control-Allow-Origin: expose, credentials, Vary. */
  readonly matched: readonly string[];
  /** Any origin: the same headers for every answer, so caches need no Vary (Fetch, "CORS protocol and HTTP caches"). */
  readonly always: AnswerHeaders | null;
  /** A listed origin: answers without a match still say Vary: Origin, so no cache serves them to a CORS request. */
  readonly unmatched: AnswerHeaders;
  readonly drop: ReadonlySet<string>;
}

export interface HttpPolicy {
  /** SHA-256 (hex) of each invoke key of the function, to the key's id (its idempotency scope); null when the URL is public. */
  readonly keyHashes: ReadonlyMap<string, string> | null;
  /** Methods the URL takes; null: any. */
  readonly methods: ReadonlySet<string> | null;
  /** The Allow header of a 405. */
  readonly allow: string;
  readonly cors: CorsPolicy | null;
}

/** No http trigger (or one that changes nothing): every check is skipped for it, by identity. */
export const PUBLIC_POLICY: HttpPolicy = Object.freeze({ keyHashes: null, methods: null, allow: '', cors: null });

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/** A key is 4 + 43 characters; anything much longer is refused before it is hashed. */
const MAX_PRESENTED_KEY = 256;
const CORS_RESPONSE_HEADERS = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-max-age'];

export function compileHttpPolicy(trigger: HttpTrigger | undefined, keys: readonly InvokeKeyRecord[]): HttpPolicy {
  if (!trigger || (trigger.auth === 'public' && !trigger.methods && !trigger.cors)) return PUBLIC_POLICY;
  const methods = trigger.methods ? new Set(trigger.methods) : null;
  return Object.freeze({
    keyHashes: trigger.auth === 'key' ? new Map(keys.map((k) => [k.sha256, k.id])) : null,
    methods,
    allow: (trigger.methods ?? ALL_METHODS).join(', '),
    cors: trigger.cors ? compileCors(trigger, methods) : null,
  });
}

function compileCors(trigger: HttpTrigger, urlMethods: ReadonlySet<string> | null): CorsPolicy {
  const c = trigger.cors!;
  const methods = c.allowMethods ?? [...(urlMethods ?? ALL_METHODS)];
  // A browser can only send the invoke key if the preflight allows its header.
  const headers = [...new Set([...(c.allowHeaders ?? []), ...(trigger.auth === 'key' ? [INVOKE_KEY_HEADER] : [])])];
  const anyOrigin = c.allowOrigins.includes('*');
  const matched: string[] = [];
  if (c.exposeHeaders?.length) matched.push('access-control-expose-headers', c.exposeHeaders.join(', '));
  if (c.allowCredentials) matched.push('access-control-allow-credentials', 'true');
  const drop = new Set([REQUEST_ID_HEADER, ...CORS_RESPONSE_HEADERS]);
  if (!anyOrigin) matched.push('vary', 'Origin');
  return {
    anyOrigin,
    origins: new Set(c.allowOrigins.map((o) => o.toLowerCase())),
    methods: new Set(methods),
    allowMethods: methods.join(', '),
    anyHeader: headers.includes('*'),
    headers: new Set(headers),
    allowHeaders: headers.join(', '),
    maxAge: String(c.maxAgeSeconds),
    credentials: c.allowCredentials,
    matched,
    always: anyOrigin ? { add: ['access-control-allow-origin', '*', ...matched], drop } : null,
    unmatched: { add: ['vary', 'Origin'], drop },
    drop,
  };
}

/** A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method (Fetch: "CORS-preflight request"). */
export function isPreflight(req: http.IncomingMessage): boolean {
  return req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined;
}

/** Why the call may not reach the function (auth first, so a caller without a key learns nothing else), or null. */
export function refusal(req: http.IncomingMessage, policy: HttpPolicy, fn: string): StratusError | null {
  if (policy.keyHashes !== null) {
    const presented = req.headers[INVOKE_KEY_HEADER];
    const how = `send a key of function ${fn} in the ${INVOKE_KEY_HEADER} header (POST /v1/functions/${fn}/keys issues one; the admin API key is not an invoke key)`;
    if (typeof presented !== 'string' || presented.length === 0) {
      return new StratusError('UNAUTHORIZED', `function ${fn} takes calls with an invoke key only: ${how}`, { function: fn, header: INVOKE_KEY_HEADER });
    }
    // Node joins repeated headers with ", ", which no key contains: two keys are refused, not tried one by one.
    if (presented.includes(',')) {
      return new StratusError('UNAUTHORIZED', `send exactly one ${INVOKE_KEY_HEADER} header; ${how}`, { function: fn, header: INVOKE_KEY_HEADER });
    }
    // A map lookup of the key's hash: what leaks through its timing is about the hash, not about any key.
    // Wrong invoke keys are not throttled, unlike the admin key (gateway/api/auth-throttle.ts): an invoke key is
    // 256 random bits the platform made, never a chosen password, so guessing one is hopeless; and a lock-out
    // per address would let anyone who shares a caller's address (a NAT, a proxy) stop a function's real
    // callers, and cost a lookup on every good call.
    if (presented.length > MAX_PRESENTED_KEY || !policy.keyHashes.has(hashInvokeKey(presented))) {
      return new StratusError('UNAUTHORIZED', `the invoke key is not one of function ${fn} (revoked, mistyped, or another function's): ${how}`, { function: fn, header: INVOKE_KEY_HEADER });
    }
  }
  if (policy.methods !== null && !policy.methods.has(req.method ?? '')) {
    return new StratusError('METHOD_NOT_ALLOWED', `function ${fn} takes ${policy.allow} (its http trigger's methods), not ${String(req.method).slice(0, 20)}`, { function: fn, allow: policy.allow });
  }
  return null;
}

/** The CORS headers of an answer to this call (not a preflight); undefined when the function has no CORS settings. */
export function corsAnswer(req: http.IncomingMessage, policy: HttpPolicy): AnswerHeaders | undefined {
  const cors = policy.cors;
  if (cors === null) return undefined;
  if (cors.always !== null) return cors.always;
  const origin = req.headers.origin;
  if (origin === undefined || !cors.origins.has(origin)) return cors.unmatched;
  return { add: ['access-control-allow-origin', origin, ...cors.matched], drop: cors.drop };
}

/** The gateway's own answers (401, 405, 202, a proxy failure) carry the CORS headers too, so a page can read them. */
export function setAnswerHeaders(res: http.ServerResponse, headers: AnswerHeaders): void {
  if (res.headersSent) return; // a failure after the function's head went out: the answer is cut, not replaced
  for (let i = 0; i < headers.add.length; i += 2) res.setHeader(headers.add[i]!, headers.add[i + 1]!);
}

/** Answers a refused call: 401 with a challenge naming the key header, 405 with Allow; CORS headers kept so a page can read why. */
export function sendRefusal(req: http.IncomingMessage, res: http.ServerResponse, err: StratusError, policy: HttpPolicy, cors: AnswerHeaders | undefined, requestId: string, logger: Logger): void {
  req.resume();
  if (cors) setAnswerHeaders(res, cors);
  // RFC 9110: a 401 carries a challenge. Not Bearer: the key goes in its own header, which the challenge names.
  if (err.code === 'UNAUTHORIZED') res.setHeader('www-authenticate', `StratusKey realm="function URL", header="${INVOKE_KEY_HEADER}"`);
  if (err.code === 'METHOD_NOT_ALLOWED') res.setHeader('allow', policy.allow);
  sendProblem(res, err, requestId, logger);
}

/** Answers a preflight: 204 with the CORS headers when origin, method and headers are all allowed, else 403 without them. */
export function answerPreflight(req: http.IncomingMessage, res: http.ServerResponse, policy: HttpPolicy, fn: string, requestId: string, logger: Logger): void {
  req.resume();
  const cors = policy.cors!;
  const origin = req.headers.origin!;
  const method = String(req.headers['access-control-request-method']);
  const asked = (req.headers['access-control-request-headers'] ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  let refused: string | null = null;
  if (!cors.anyOrigin && !cors.origins.has(origin)) refused = `the origin ${JSON.stringify(origin.slice(0, 200))} is not among its allowed origins`;
  else if (!cors.methods.has(method)) refused = `the method ${JSON.stringify(method.slice(0, 20))} is not among its allowed methods (${cors.allowMethods})`;
  else if (!cors.anyHeader) {
    const header = asked.find((h) => !cors.headers.has(h));
    if (header !== undefined) refused = `the request header ${JSON.stringify(header.slice(0, 100))} is not among its allowed headers (${cors.allowHeaders || 'none'})`;
  }
  if (refused !== null) {
    res.setHeader('vary', 'Origin');
    sendProblem(res, new StratusError('CORS_PREFLIGHT_REFUSED', `function ${fn}'s CORS settings refuse this preflight: ${refused}`, { function: fn }), requestId, logger);
    return;
  }
  const headers = [
    'access-control-allow-origin', cors.anyOrigin ? '*' : origin,
    'access-control-allow-methods', cors.allowMethods,
    'access-control-max-age', cors.maxAge,
    'vary', cors.anyHeader ? 'Origin, Access-Control-Request-Headers' : 'Origin',
    REQUEST_ID_HEADER, requestId,
  ];
  const allowHeaders = cors.anyHeader ? asked.join(', ') : cors.allowHeaders;
  if (allowHeaders) headers.push('access-control-allow-headers', allowHeaders);
  if (cors.credentials) headers.push('access-control-allow-credentials', 'true');
  res.writeHead(204, headers);
  res.end();
}
