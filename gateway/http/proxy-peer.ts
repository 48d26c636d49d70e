// Requests that came through the native proxy (gateway/native/): Stratus then listens on a unix socket in a
// directory only its own user reaches, and only HAProxy connects there. On those connections, and only
// there, two headers HAProxy set are believed — the call's request id (HAProxy made it, logged it in its
// per-call line and passed it to the function: the record, the logs and the answer must carry the same) and
// the client's address (the auth throttle counts clients; the peer of a unix socket has no address). HAProxy
// removes a caller's own values of both before it sets them; on any other connection both are the caller's
// words and are ignored.

import type http from 'node:http';
import type net from 'node:net';
import { newRequestId } from '../../core/ids.js';
import { REQUEST_ID_HEADER } from '../../core/invocation-contract.js';

/** The client's address as HAProxy saw it (its `src`), set on calls it hands to Stratus. */
export const CLIENT_ADDRESS_HEADER = 'x-stratus-client-address';

/** Set by HAProxy on a call it hands over although the function has a slot: every instance in it was full. */
export const OVERFLOW_HEADER = 'x-stratus-overflow';

const fromProxy = new WeakSet<net.Socket>();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Every connection `server` accepts is the native proxy's (its listener is the activator's unix socket). */
export function trustAsProxy(server: http.Server): void {
  server.on('connection', (socket: net.Socket) => fromProxy.add(socket));
}

/** The call's id: HAProxy's on its connections, a new one otherwise. */
export function requestIdOf(req: http.IncomingMessage): string {
  if (fromProxy.has(req.socket)) {
    const id = req.headers[REQUEST_ID_HEADER];
    if (typeof id === 'string' && UUID.test(id)) return id;
  }
  return newRequestId();
}

/** The client's address HAProxy wrote, on its connections; undefined otherwise (then the socket's peer counts). */
export function proxiedClientAddress(req: http.IncomingMessage): string | undefined {
  if (!fromProxy.has(req.socket)) return undefined;
  const v = req.headers[CLIENT_ADDRESS_HEADER];
  return typeof v === 'string' && v.length > 0 && v.length <= 64 ? v : undefined;
}

/** HAProxy handed this call over because the instances it routes to were all busy (not because none exists). */
export function overflowed(req: http.IncomingMessage): boolean {
  return fromProxy.has(req.socket) && req.headers[OVERFLOW_HEADER] === '1';
}
