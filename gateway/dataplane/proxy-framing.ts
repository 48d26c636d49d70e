// Headers and message framing of a proxied call: which headers cross the gateway, and how a request
// body is framed on its way to an instance. The rule (RFC 9112, DESIGN.md's security model): every
// forwarded message is framed by the gateway, never passed through as bytes — a body the instance
// cannot delimit would be read as a second request on the kept-alive socket, with headers of the
// caller's choosing and outside the concurrency limit.

import type http from 'node:http';
import { StratusError } from '../../core/errors.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Lower-case names the Connection header(s) of a raw header list mark as hop-by-hop; null when none. */
function connectionNamed(raw: readonly string[]): string[] | null {
  let named: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.split(',')) {
      const t = token.trim().toLowerCase();
      if (t) (named ??= []).push(t);
    }
  }
  return named;
}

/**
 * Appends to `out` the end-to-end headers of a raw list (name, value, name, value…, as in
 * IncomingMessage.rawHeaders): hop-by-hop ones, any the Connection header names, proxy-* and the names
 * in `drop` are left out. Duplicates stay as they came (e.g. several set-cookie). Transfer-Encoding is
 * hop-by-hop: the gateway frames each message itself (see requestFraming).
 */
export function copyEndToEnd(raw: readonly string[], out: string[], drop: ReadonlySet<string>): string[] {
  const named = connectionNamed(raw);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || drop.has(lower) || lower.startsWith('proxy-') || (named !== null && named.includes(lower))) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

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
 * duplicate Content-Length: client-error.ts answers those); this is the same rule for what it lets
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
