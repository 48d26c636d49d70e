// What the gateway answers when Node's HTTP parser refuses a request before any handler sees it
// (the server's 'clientError' event): a problem+json document, then the connection is closed.
//
// Node's parser (llhttp, strict) already refuses the framings a smuggler relies on: Content-Length
// with Transfer-Encoding (RFC 9112 §6.1), a Transfer-Encoding whose last coding is not chunked, chunked
// twice, duplicate or malformed Content-Length, bare LF, obs-fold. Node answers those with a bare
// "400 Bad Request"; every error Stratus gives is problem+json, so this writes one instead. The
// connection is always closed afterwards: once framing is in doubt, the next byte on it cannot be trusted.

import type { Duplex } from 'node:stream';
import { ERROR_CATALOGUE, StratusError, toProblem } from '../../core/errors.js';
import { newRequestId } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import { REQUEST_ID_HEADER } from '../../core/invocation-contract.js';


/** Parser error codes (llhttp) to what the caller can do about them. */
function problemFor(err: NodeJS.ErrnoException & { reason?: string }): StratusError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new StratusError('REQUEST_HEADERS_TOO_LARGE', 'the request line and headers are larger than the server accepts (16 KB); send fewer or smaller headers');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new StratusError('PAYLOAD_TOO_LARGE', 'the chunk extensions of the request body are too large; send the body without chunk extensions');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new StratusError('REQUEST_TIMEOUT', 'the request did not arrive completely in time; send it again on a new connection');
    default: {
      // llhttp's reason is a fixed, short description of the rule broken (e.g. "Transfer-Encoding can't
      // be present with Content-Length"), never request bytes: safe and useful to send back.
      const reason = typeof err.reason === 'string' && err.reason.length < 200 ? `: ${err.reason}` : '';
      return new StratusError('INVALID_REQUEST', `the request is not valid HTTP/1.1${reason}; frame a body with either Content-Length or Transfer-Encoding: chunked, never both`);
    }
  }
}

/** The raw bytes of a problem answer on a connection about to close. */
export function problemBytes(err: StratusError, requestId: string): string {
  const body = JSON.stringify(toProblem(err));
  return (
    `HTTP/1.1 ${err.status} ${ERROR_CATALOGUE[err.code].title}\r\n` +
    'connection: close\r\n' +
    'content-type: application/problem+json\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `${REQUEST_ID_HEADER}: ${requestId}\r\n\r\n${body}`
  );
}

/** A listener for http.Server's 'clientError' event. */
export function answerClientError(logger: Logger): (err: Error, socket: Duplex) => void {
  return (err, socket) => {
    const e = err as NodeJS.ErrnoException & { reason?: string };
    // A caller that went away, or a connection already answered part of a response: writing a status
    // line now would land inside that response. Node's own handler makes the same check.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (e.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    const problem = problemFor(e);
    const requestId = newRequestId();
    logger.debug('refused a malformed request', { requestId, code: e.code, reason: e.reason });
    // Once the answer is flushed the socket goes: a peer that never closes its side must not keep it.
    socket.end(problemBytes(problem, requestId), () => socket.destroy());
  };
}
