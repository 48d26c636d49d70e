// Maps an HTTP request to the handler's event, and the handler's result back to an HTTP response.

import { Readable, pipeline } from 'node:stream';
import { URLSearchParams } from 'node:url';

/** A body too large for STRATUS_MAX_BODY_BYTES: answered 413. */
export class BodyTooLargeError extends Error {}

/**
 * The runtime's own error answers have the platform's shape (RFC 9457 application/problem+json with a
 * stable code, docs/errors.md): a caller cannot tell whether the gateway or the runtime refused it. Status
 * and title as in core/errors.ts (test/unit/runtime-problems.test.ts keeps them equal).
 */
export const PROBLEMS = {
  INVALID_REQUEST: { status: 400, title: 'Invalid request' },
  CONFLICT: { status: 409, title: 'Conflict' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Content too large' },
  FUNCTION_ERROR: { status: 500, title: 'The function threw an error' },
  FUNCTION_UNAVAILABLE: { status: 503, title: 'Function is unavailable' },
};

export function sendProblem(res, code, detail, headers = {}) {
  const { status, title } = PROBLEMS[code];
  // The gateway's error catalogue entry (core/errors.ts problemType): served by whichever Stratus answered.
  const type = `/docs/errors.md#${code.toLowerCase()}`;
  const body = JSON.stringify({ type, title, status, code, detail });
  res.writeHead(status, { ...headers, 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

// Textual bodies reach the handler as a string, everything else as a Buffer.
export function isTextual(contentType) {
  if (contentType === undefined || contentType === '') return true;
  const semi = contentType.indexOf(';');
  const media = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return (
    media === '' ||
    media.startsWith('text/') ||
    media.endsWith('/json') ||
    media.endsWith('+json') ||
    media.endsWith('/xml') ||
    media.endsWith('+xml') ||
    media === 'application/x-www-form-urlencoded'
  );
}

export function readBody(req, maxBytes) {
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) return Promise.reject(new BodyTooLargeError());
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

function parseQuery(search) {
  const query = {};
  if (search === '') return query;
  for (const [key, value] of new URLSearchParams(search)) {
    const prev = query[key];
    if (prev === undefined) query[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else query[key] = [prev, value];
  }
  return query;
}

export function buildEvent(req, raw) {
  // An event (async call, cron, storage) arrives as a CloudEvent in binary mode: the ce-* headers carry its
  // attributes, the body its data. The handler gets the event itself, not an HTTP request (README, "Events").
  if (typeof req.headers['ce-specversion'] === 'string' && typeof req.headers['ce-id'] === 'string') return cloudEvent(req.headers, raw);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const body = isTextual(req.headers['content-type']) ? raw.toString('utf8') : raw;
  return {
    method: req.method,
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? {} : parseQuery(url.slice(q + 1)),
    headers: req.headers,
    body,
  };
}

/** { id, type, source, time, subject, specversion, datacontenttype, data }: data parsed when it is JSON. */
export function cloudEvent(headers, raw) {
  const contentType = headers['content-type'] ?? null;
  let data = raw.length === 0 ? null : isTextual(contentType ?? undefined) ? raw.toString('utf8') : raw;
  if (typeof data === 'string' && /^application\/(.+\+)?json\b/i.test(contentType ?? '')) {
    try {
      data = JSON.parse(data);
    } catch {
      // not the JSON it claims to be: the handler gets the text
    }
  }
  const attr = (name) => (typeof headers[`ce-${name}`] === 'string' ? headers[`ce-${name}`] : null);
  return { id: attr('id'), type: attr('type'), source: attr('source'), time: attr('time'), subject: attr('subject'), specversion: attr('specversion'), datacontenttype: contentType, data };
}

function isStreamBody(body) {
  return (
    body !== null &&
    typeof body === 'object' &&
    !Buffer.isBuffer(body) &&
    !(body instanceof Uint8Array) &&
    (typeof body.pipe === 'function' || typeof body[Symbol.asyncIterator] === 'function')
  );
}

function hasHeader(headers, name) {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return true;
  return false;
}

function send(res, status, headers, contentType, payload) {
  res.statusCode = status;
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    if (value !== undefined && value !== null) res.setHeader(key, typeof value === 'number' ? String(value) : value);
  }
  if (contentType !== null && payload !== undefined && !hasHeader(headers, 'content-type')) res.setHeader('content-type', contentType);
  res.end(payload);
}

function sendResponseObject(res, result) {
  const headers = result.headers !== null && typeof result.headers === 'object' ? result.headers : {};
  const body = result.body;
  if (body === undefined || body === null) return send(res, result.statusCode, headers, null, undefined);
  if (typeof body === 'string') return send(res, result.statusCode, headers, 'text/plain; charset=utf-8', body);
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
    return send(res, result.statusCode, headers, 'application/octet-stream', body);
  }
  return send(res, result.statusCode, headers, 'application/json', JSON.stringify(body));
}

/**
 * Writes a handler's result. Returns a Promise that settles when a streamed body is done, else undefined.
 * An object with a numeric statusCode is a response; other values are mapped by type (see README).
 */
export function writeResult(res, result) {
  if (result === undefined || result === null) return send(res, 204, {}, null, undefined);
  if (typeof result === 'string') return send(res, 200, {}, 'text/plain; charset=utf-8', result);
  if (Buffer.isBuffer(result) || result instanceof Uint8Array) {
    return send(res, 200, {}, 'application/octet-stream', result);
  }
  if (typeof result === 'object' && typeof result.statusCode === 'number') {
    if (isStreamBody(result.body)) return streamResponse(res, result);
    return sendResponseObject(res, result);
  }
  return send(res, 200, {}, 'application/json', JSON.stringify(result));
}

function streamResponse(res, result) {
  res.statusCode = result.statusCode;
  const headers = result.headers !== null && typeof result.headers === 'object' ? result.headers : {};
  for (const key of Object.keys(headers)) if (headers[key] != null) res.setHeader(key, headers[key]);
  if (!hasHeader(headers, 'content-type')) res.setHeader('content-type', 'application/octet-stream');
  const source = typeof result.body.pipe === 'function' ? result.body : Readable.from(result.body);
  return new Promise((resolve, reject) => {
    pipeline(source, res, (err) => (err ? reject(err) : resolve()));
  });
}
