// The request side of a proxied call: the forwarded-for chain, and how a request body is framed on its
// way to an instance (which headers cross is scheduler/upstream/end-to-end-headers.ts, shared with the
// answer's way back). The rule (RFC 9112, docs/security.md): every forwarded message is framed by the
// gateway, never passed through as bytes — a body the instance cannot delimit would be read as a second
// request on the kept-alive socket, with headers of the caller's choosing and outside the concurrency limit.

import type http from 'node:http';
import { StratusError } from '../../core/errors.js';

/** The caller's x-forwarded-for values joined, with the peer appended (RFC 7239's de-facto predecessor). */
export function forwardedFor(raw: readonly string[], peer: string): string {
  let chain = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 15 && name.toLowerCase() === 'x-forwarded-for') chain += `${raw[i + 1]!}, `;
  }
  return chain + peer;
}

/**
 * How the gateway frames a request's body towards the instance: 'none' (no body, RFC 9112 §6.3),
 * 'length' (the caller's Content-Length, already copied, which Node's parser has checked and bounds the
 * body to), or 'chunked' (re-chunked by the gateway: Node only chunks a GET, HEAD, DELETE, OPTIONS…
 * body when told to, and writes it raw otherwise). Call after framingProblem(req) returned null.
 */
export function requestFraming(req: http.IncomingMessage): 'none' | 'length' | 'chunked' {
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return 'chunked';
  return h['content-length'] !== undefined && h['content-length'] !== '0' ? 'length' : 'none';
}

const framing = (detail: string) => new StratusError('INVALID_REQUEST', `${detail}; frame a body with either Content-Length or Transfer-Encoding: chunked (RFC 9112 §6)`, { field: 'transfer-encoding' });

/**
 * Why a request's framing is refused, or null. Node's parser refuses most ambiguous framings before any
 * handler runs (Content-Length with Transfer-Encoding, a last coding other than chunked, chunked twice,
 * duplicate Content-Length: gateway/http/client-error.ts answers those); this is the same rule for what it lets
 * through — a coding stacked before chunked ("gzip, chunked"), an empty Transfer-Encoding, any
 * Transfer-Encoding in HTTP/1.0 (§6.1: its framing is faulty) — and for a parser run leniently.
 */
export function framingProblem(req: http.IncomingMessage): StratusError | null {
  const h = req.headers;
  const te = h['transfer-encoding'];
  if (te === undefined) return null;
  if (h['content-length'] !== undefined) return framing('the request has both Content-Length and Transfer-Encoding');
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return framing('Transfer-Encoding is not part of HTTP/1.0');
  if (te.trim().toLowerCase() !== 'chunked') return framing('the only Transfer-Encoding accepted is "chunked", alone');
  return null;
}
