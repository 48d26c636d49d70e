// `x-stratus-invocation-type: async` on a function URL: the body is read (bounded), queued as the event's
// data, and the caller gets 202 { id, links } at once instead of the function's answer. A JSON body
// (content-type application/json) is the data as parsed; any other body is its text.

import type http from 'node:http';
import { StratusError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { DeployedVersion } from '../../core/types.js';
import type { HttpPolicy } from './http-policy.js';
import { sendProblem } from '../http/problem.js';
import { idempotencyKey } from '../http/idempotency-header.js';
import { MAX_ASYNC_PAYLOAD_BYTES, type AsyncInvocations } from '../../control/invocations/async-invocations.js';
import { ANONYMOUS, scopedIdempotencyKey, type ScopedIdempotencyKey, type Submitter } from '../../control/invocations/idempotency.js';
import { INVOKE_KEY_HEADER, hashInvokeKey } from '../../core/invocation-contract.js';
import { REQUEST_ID_HEADER } from '../../core/invocation-contract.js';

/** `policy` is the URL's (http-policy.ts), whose checks the call has passed: it says who the caller is. */
export function submitFromFunctionUrl(req: http.IncomingMessage, res: http.ServerResponse, requestId: string, target: DeployedVersion, intake: AsyncInvocations | undefined, logger: Logger, policy: HttpPolicy): void {
  const fail = (err: unknown) => {
    req.resume();
    sendProblem(res, err, requestId, logger);
  };
  if (req.headers['x-stratus-invocation-type'] !== 'async') {
    return fail(new StratusError('INVALID_REQUEST', 'x-stratus-invocation-type is "async" (answered 202 at once) or "sync" (the default)', { field: 'headers.x-stratus-invocation-type' }));
  }
  if (!intake) return fail(new StratusError('FUNCTION_UNAVAILABLE', 'async invocations are not available on this platform'));
  // The key is scoped to the caller: anyone on a public URL, else the invoke key it presented
  // (control/invocations/idempotency.ts).
  let key: ScopedIdempotencyKey | undefined;
  try {
    const sent = idempotencyKey(req);
    if (sent !== undefined) key = scopedIdempotencyKey(functionUrlSubmitter(req, policy), sent);
  } catch (err) {
    return fail(err);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  req.on('data', (c: Buffer) => {
    if (refused) return;
    size += c.length;
    if (size > MAX_ASYNC_PAYLOAD_BYTES) {
      refused = true;
      res.shouldKeepAlive = false;
      sendProblem(res, new StratusError('PAYLOAD_TOO_LARGE', `an async invocation's body is at most ${MAX_ASYNC_PAYLOAD_BYTES} bytes`, { limitBytes: MAX_ASYNC_PAYLOAD_BYTES }), requestId, logger);
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (refused) return;
    const text = Buffer.concat(chunks).toString('utf8');
    let data: unknown = text;
    if (/^application\/(.+\+)?json\b/i.test(req.headers['content-type'] ?? '') && text.length > 0) {
      try {
        data = JSON.parse(text);
      } catch {
        return fail(new StratusError('INVALID_REQUEST', 'the body is not valid JSON although its content-type says so', { field: 'body' }));
      }
    }
    intake.submit(target.function, text.length === 0 ? null : data, key === undefined ? {} : { idempotencyKey: key }).then(
      (s) => {
        const body = JSON.stringify({ id: s.id, status: s.status, duplicate: s.duplicate, links: s.links });
        res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), location: s.links.self, [REQUEST_ID_HEADER]: requestId });
        res.end(body);
      },
      fail,
    );
  });
  req.on('error', () => res.destroy());
}

/**
 * Who called a function URL whose call refusal() (http-policy.ts) has let through: the invoke key it
 * presented (by the key's id), or anyone when the URL is public. Asked only for an async call with an
 * Idempotency-Key, so a sync call pays nothing for it.
 */
export function functionUrlSubmitter(req: http.IncomingMessage, policy: HttpPolicy): Submitter {
  if (policy.keyHashes === null) return ANONYMOUS;
  const presented = req.headers[INVOKE_KEY_HEADER];
  const keyId = typeof presented === 'string' ? policy.keyHashes.get(hashInvokeKey(presented)) : undefined;
  if (keyId === undefined) throw new Error('a function URL call with no valid invoke key reached the async intake');
  return { kind: 'invoke-key', keyId };
}
