// Every error leaves the gateway as application/problem+json (RFC 9457). A StratusError carries a
// message meant for the caller; anything else is ours: logged with its cause and the request id,
// answered with a generic message so no internal detail leaks.

import type http from 'node:http';
import type { ErrorRequestHandler } from 'express';
import { StratusError, isStratusError, toProblem, type ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';

import { REQUEST_ID_HEADER } from '../../core/invocation-contract.js';

/** Errors raised by express's body parsers carry a `type`; map the ones a caller can fix. */
function fromParserError(err: unknown): StratusError | null {
  if (typeof err !== 'object' || err === null) return null;
  switch ((err as { type: unknown }).type) {
    case 'entity.parse.failed':
      return new StratusError('INVALID_REQUEST', 'the request body is not valid JSON', { field: 'body' });
    case 'entity.too.large':
      return new StratusError('PAYLOAD_TOO_LARGE', 'the JSON body is too large', { field: 'body' });
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new StratusError('UNSUPPORTED_MEDIA_TYPE', 'send the body as UTF-8 without a content encoding', { field: 'content-type' });
    default: {
      // Other client errors express raises (e.g. a malformed %-escape in a path parameter).
      const status = (err as { status?: unknown }).status;
      return typeof status === 'number' && status >= 400 && status < 500
        ? new StratusError('INVALID_REQUEST', 'the request is malformed; check the URL and body encoding')
        : null;
    }
  }
}

export function asStratusError(err: unknown, requestId: string, logger: Logger): StratusError {
  if (isStratusError(err)) {
    if (!err.isUserError) logger.warn('request failed', { requestId, code: err.code, message: err.message, cause: err.cause });
    return err;
  }
  const mapped = fromParserError(err);
  if (mapped) return mapped;
  logger.error('internal error', { requestId, err });
  return new StratusError('INTERNAL', `an internal error occurred; quote request id ${requestId} when reporting it`);
}

/** The code of the problem the platform answered a response with, for the invocation record of the call. */
const platformAnswers = new WeakMap<http.ServerResponse, ErrorCode>();
export const platformAnswerOf = (res: http.ServerResponse): ErrorCode | undefined => platformAnswers.get(res);

export function sendProblem(res: http.ServerResponse, err: unknown, requestId: string, logger: Logger, instance?: string): void {
  const e = asStratusError(err, requestId, logger);
  platformAnswers.set(res, e.code);
  if (res.headersSent) {
    // Too late for a problem document: cut the response so the caller sees a failure, not a truncated success.
    res.destroy();
    return;
  }
  const body = JSON.stringify(toProblem(e, instance));
  const headers: http.OutgoingHttpHeaders = {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    [REQUEST_ID_HEADER]: requestId,
  };
  if (e.details.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(0, Math.ceil(e.details.retryAfterSeconds)));
  // A function URL's key check sets its own challenge (the invoke key has a header of its own, not Bearer).
  if (e.code === 'UNAUTHORIZED' && !res.hasHeader('www-authenticate')) headers['www-authenticate'] = 'Bearer realm="stratus"';
  res.writeHead(e.status, headers);
  res.end(body);
}

export function problemMiddleware(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const requestId = String(res.getHeader(REQUEST_ID_HEADER) ?? '');
    sendProblem(res, err, requestId, logger, req.originalUrl.split('?')[0]);
  };
}
