// Who a request comes from, as the auth throttle (auth-throttle.ts) counts clients. The socket's peer
// address, unless that peer is a proxy the operator named in STRATUS_TRUSTED_PROXIES: then the address
// that proxy wrote into X-Forwarded-For (walked from the right, past every trusted proxy, by proxy-addr —
// the same code as express's "trust proxy"). Without the setting the header is never read: anybody can
// send one, and a client that chose its own address could never be throttled.
//
// An IPv6 client is counted by its /64: one host is usually given a whole /64 and can take any address in
// it, so counting single addresses would give it 2^64 fresh starts. IPv4-mapped IPv6 (::ffff:a.b.c.d, a
// dual-stack socket's view of an IPv4 peer) is the IPv4 address.

import type http from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';
import { proxiedClientAddress } from '../http/proxy-peer.js';

export type ClientOf = (req: http.IncomingMessage) => string;

/** Refuses a list proxy-addr cannot compile (for the config's validation); returns nothing otherwise. */
export function checkTrustedProxies(list: readonly string[]): void {
  proxyAddr.compile([...list]);
}

/** The client key of a request: an IPv4 address, an IPv6 /64 ("2001:db8:1:2::/64"), or the raw peer text. */
export function clientAddress(trustedProxies: readonly string[], onUntrustedForward?: (peer: string) => void): ClientOf {
  const direct = clientAddressOf(trustedProxies, onUntrustedForward);
  // Through the native proxy the peer is HAProxy on the activator's socket: the client is the address it wrote.
  return (req) => {
    const proxied = proxiedClientAddress(req);
    return proxied === undefined ? direct(req) : clientKey(proxied);
  };
}

function clientAddressOf(trustedProxies: readonly string[], onUntrustedForward?: (peer: string) => void): ClientOf {
  if (trustedProxies.length === 0) {
    // A proxy nobody named: every client behind it is one to the throttle, and one stranger's wrong keys
    // hold the operator's right one too. Said once, so the operator can name the proxy.
    let told = onUntrustedForward === undefined;
    return (req) => {
      if (!told && req.headers['x-forwarded-for'] !== undefined) {
        told = true;
        onUntrustedForward!(req.socket.remoteAddress ?? 'unknown');
      }
      return clientKey(req.socket.remoteAddress);
    };
  }
  const trust = proxyAddr.compile([...trustedProxies]);
  return (req) => clientKey(req.socket.remoteAddress === undefined ? undefined : proxyAddr(req, trust));
}

export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown'; // a socket already gone: all of them are one client, which is harmless
  if (!ipaddr.isValid(address)) return address.slice(0, 100); // a trusted proxy's odd header: still one client
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return ip.toString();
  const parts = (ip as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}
