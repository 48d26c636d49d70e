// One function invocation proxied to an instance: the data plane's side of a streamed upstream call
// (scheduler/upstream/streamed-call.ts, which holds the state machine, the lease and the answer
// streamed back). Here: which of the caller's headers reach the function and which the gateway sets,
// how the request body is framed on its way, and how a failure is answered (problem+json, with the
// URL's CORS headers so a page can read why).
//
// On the warm path (cost per request: see scheduler/upstream/streamed-call.ts) the headers go as one flat raw array and a
// bodiless request is ended at once instead of piped.

import type http from 'node:http';
import { DEADLINE_HEADER, INVOKE_KEY_HEADER, REQUEST_ID_HEADER } from '../../core/invocation-contract.js';
import type { Lease } from '../../scheduler/scheduler.js';
import { copyEndToEnd } from '../../scheduler/upstream/end-to-end-headers.js';
import { StreamedCall, type StreamContext } from '../../scheduler/upstream/streamed-call.js';
import { sendProblem } from '../http/problem.js';
import { CLIENT_ADDRESS_HEADER, OVERFLOW_HEADER, proxiedClientAddress } from '../http/proxy-peer.js';
import { setAnswerHeaders } from './http-policy.js';
import { forwardedFor, requestFraming } from './proxy-framing.js';

export { framingProblem } from './proxy-framing.js';

/**
 * Headers the gateway sets itself on the way in: a caller's own values must not reach the function. The
 * invoke key goes too, on every URL: a function never sees its callers' keys (nor another function's).
 */
const SET_BY_GATEWAY_IN = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', REQUEST_ID_HEADER, DEADLINE_HEADER, INVOKE_KEY_HEADER, CLIENT_ADDRESS_HEADER, OVERFLOW_HEADER]);

/** What the function URL handler (invoke.ts) knows of a call; its answerHeaders are http-policy.ts's AnswerHeaders. */
export type InvocationContext = StreamContext;

class Invocation extends StreamedCall {
  forward(lease: Lease): void {
    const { req, ctx } = this;
    const raw = req.rawHeaders;
    const headers = copyEndToEnd(raw, [], SET_BY_GATEWAY_IN);
    // Through the native proxy the peer is HAProxy on a unix socket: the client is the address it wrote.
    headers.push('x-forwarded-for', forwardedFor(raw, proxiedClientAddress(req) ?? req.socket.remoteAddress ?? ''), 'x-forwarded-proto', 'http');
    const host = req.headers.host;
    if (host) headers.push('x-forwarded-host', host);
    headers.push(REQUEST_ID_HEADER, ctx.requestId, DEADLINE_HEADER, String(ctx.deadline));
    const framing = requestFraming(req);
    // Said explicitly, because Node writes the body of a GET, DELETE, OPTIONS… unframed otherwise.
    if (framing === 'chunked') headers.push('transfer-encoding', 'chunked');
    const up = this.open(lease, req.method, ctx.path, headers);
    if (framing === 'none') up.end();
    else req.pipe(up);
  }

  protected sendFailure(err: unknown): void {
    const { res, ctx } = this;
    if (ctx.answerHeaders) setAnswerHeaders(res, ctx.answerHeaders);
    sendProblem(res, err, ctx.requestId, ctx.logger);
  }
}

export function proxyInvocation(req: http.IncomingMessage, res: http.ServerResponse, ctx: InvocationContext, timeoutMs: number): void {
  new Invocation(req, res, ctx, timeoutMs).start();
}
