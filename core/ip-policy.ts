// Which IP addresses Stratus may connect to on the word of a caller (today: the clone URL of a push hook
// without a pinned repository). Only global unicast addresses, decided on the address itself (never on
// how a URL spelled it), unless the operator lists networks it may reach (STRATUS_GIT_ALLOWED_NETWORKS).
//
// "Global" is ipaddr.js's `unicast` range — what is left after loopback, private (RFC 1918), link-local
// (169.254/16: cloud metadata), carrier-grade NAT (100.64/10), 0/8, multicast, broadcast, reserved and
// documentation ranges, AS112, AMT —, and for IPv6 also inside 2000::/3, the only block IANA hands out:
// that leaves out ::1, ::, fc00::/7, fe80::/10, ff00::/8, the IPv4-compatible ::/96 and every other
// reserved block. An address that carries an IPv4 one (::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16,
// Teredo) is refused as such, except the IPv4-mapped form, which is judged as the IPv4 address it is.

import ipaddr from 'ipaddr.js';
import { z } from 'zod';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Network = [Address, number];

const GLOBAL_IPV6: Network = ipaddr.parseCIDR('2000::/3');

/**
 * A network as the operator writes it: CIDR ("10.0.0.0/8", "fd00::/8") or one address ("127.0.0.1"), IPv4
 * in its four-part decimal form only (an operator's list is no place for "127.1" or "0x7f000001").
 */
export function parseNetwork(raw: string): Network | null {
  const [text, bitsText, extra] = raw.trim().split('/');
  if (text === undefined || extra !== undefined) return null;
  const v4 = ipaddr.IPv4.isValidFourPartDecimal(text);
  if (!v4 && !(text.includes(':') && ipaddr.IPv6.isValid(text))) return null;
  const max = v4 ? 32 : 128;
  const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  if (!(bits >= 0 && bits <= max)) return null;
  const parsed = ipaddr.parse(text);
  const addr = normal(parsed);
  // ::ffff:10.0.0.0/104 is 10.0.0.0/8.
  if (addr !== parsed) return bits >= 96 ? [addr, bits - 96] : null;
  return [addr, bits];
}

/** A comma-separated list of networks (config): every entry must parse; kept as normalized CIDRs. */
export const networkList = z
  .string()
  .transform((s) => s.split(',').map((n) => n.trim()).filter((n) => n !== ''))
  .superRefine((list, ctx) => {
    const bad = list.filter((n) => parseNetwork(n) === null);
    if (bad.length > 0) ctx.addIssue({ code: 'custom', message: `${bad.map((b) => JSON.stringify(b)).join(', ')}: not a network; give CIDRs or addresses separated by commas, e.g. 10.0.0.0/8,fd00::/8,127.0.0.1` });
  })
  .transform((list) => list.map((n) => {
    const [addr, bits] = parseNetwork(n)!;
    return `${addr.toString()}/${bits}`;
  }));

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address; everything else as it is. */
function normal(addr: Address): Address {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
}

export type AddressVerdict = { allowed: true; address: string } | { allowed: false; address: string; range: string };

export class AddressPolicy {
  readonly #allowed: Network[];

  /** `allowed`: networks reachable besides global unicast ones (validated by networkList). */
  constructor(allowed: readonly string[] = []) {
    this.#allowed = allowed.map((n) => {
      const net = parseNetwork(n);
      if (!net) throw new Error(`not a network: ${n}`);
      return net;
    });
  }

  /** Whether `text` (an IP address, in any form Node or ipaddr.js prints) may be connected to; its range when not. */
  check(text: string): AddressVerdict {
    let addr: Address;
    try {
      addr = normal(ipaddr.parse(text.replace(/^\[|\]$/g, '')));
    } catch {
      return { allowed: false, address: text, range: 'not an IP address' };
    }
    const address = addr.toString();
    if (this.#allowed.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits))) return { allowed: true, address };
    const range = addr.range();
    if (range !== 'unicast') return { allowed: false, address, range };
    if (addr.kind() === 'ipv6' && !addr.match(GLOBAL_IPV6)) return { allowed: false, address, range: 'reserved (outside 2000::/3)' };
    return { allowed: true, address };
  }
}
