// Where git may connect for a clone URL a push hook named (no pinned repository): the URL's host resolved
// here, every address it resolves to checked against the address policy (core/ip-policy.ts), and the
// addresses checked handed to git to use — so that neither a name resolving to 127.0.0.1, nor a spelling
// of an address ("2130706433", "0x7f.1", "[::ffff:7f00:1]"), nor a DNS answer that changes between this
// check and git's own lookup (rebinding) reaches what the policy refuses. git's http transport (curl) is
// told the addresses with http.curloptResolve and never looks the name up itself; it follows no redirect
// (http.followRedirects=false), so a server on a good address cannot send it on to a bad one.
//
// A refusal says the same whether the name did not resolve or resolved to a refused address: the hook's
// caller learns nothing of the names and addresses inside the network. The log gets the reason.

import dns from 'node:dns';
import type { AddressPolicy } from '../../core/ip-policy.js';
import { StratusError } from '../../core/errors.js';

/** Every address a host name resolves to, as the system resolver (getaddrinfo) answers. */
export type Lookup = (hostname: string) => Promise<string[]>;

/** A name's lookup may take this long: the hook waits for it before answering (forges wait 5–10 s). */
export const LOOKUP_TIMEOUT_MS = 3000;

export const systemLookup: Lookup = async (hostname) => (await dns.promises.lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

export interface FetchTarget {
  url: string;
  /** git -c http.curloptResolve=… : "host:port:addr[,addr…]"; null when the URL names an address itself. */
  resolve: string | null;
  /** The addresses git may connect to (for the log). */
  addresses: string[];
}

/** Thrown as GIT_REPOSITORY_REFUSED to the caller; `reason` is for the log only. */
export class AddressRefused extends StratusError {
  constructor(readonly reason: string) {
    super(
      'GIT_REPOSITORY_REFUSED',
      'the clone URL\'s host is not one Stratus fetches from on a hook\'s word: it must resolve to public addresses only (the operator can allow networks with STRATUS_GIT_ALLOWED_NETWORKS, or the function\'s owner can pin git.repository)',
      { field: 'repository.clone_url' },
      { cause: new Error(reason) },
    );
  }
}

/**
 * The checked target for an http(s) URL from a hook, or AddressRefused. `url` must be the WHATWG-normalized
 * href (push-event.ts gives it so): numeric spellings of IPv4 are already a.b.c.d there, IPv6 compressed.
 */
export async function checkedTarget(url: string, policy: AddressPolicy, lookup: Lookup): Promise<FetchTarget> {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new AddressRefused(`scheme ${u.protocol} is not fetched from a hook`);
  const host = u.hostname;
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
  const literal = host.startsWith('[') ? host.slice(1, -1) : /^\d+\.\d+\.\d+\.\d+$/.test(host) ? host : null;
  if (literal !== null) {
    const verdict = policy.check(literal);
    if (!verdict.allowed) throw new AddressRefused(`${host} is ${verdict.range}`);
    return { url: u.href, resolve: null, addresses: [verdict.address] };
  }
  // curl keys its resolve entries by the name as the URL gives it; a trailing dot (or an empty label) would
  // make git's lookup miss the entry and resolve the name on its own.
  if (host.endsWith('.') || host.includes('..') || !/^[a-z0-9.-]+$/.test(host)) throw new AddressRefused(`the host name ${JSON.stringify(host)} is not a plain DNS name`);
  let found: string[];
  try {
    found = await within(lookup(host), LOOKUP_TIMEOUT_MS, `${host} did not resolve within ${LOOKUP_TIMEOUT_MS} ms`);
  } catch (err) {
    throw new AddressRefused(`${host} does not resolve: ${(err as Error).message}`);
  }
  if (found.length === 0) throw new AddressRefused(`${host} resolves to no address`);
  const verdicts = found.map((a) => policy.check(a));
  // One refused address refuses the name: git (or a retry) could connect to any of them.
  const refused = verdicts.find((v) => !v.allowed);
  if (refused && !refused.allowed) throw new AddressRefused(`${host} resolves to ${refused.address}, which is ${refused.range}`);
  const addresses = [...new Set(verdicts.map((v) => v.address))];
  const listed = addresses.map((a) => (a.includes(':') ? `[${a}]` : a)).join(',');
  return { url: u.href, resolve: `${host}:${port}:${listed}`, addresses };
}

function within<T>(p: Promise<T>, ms: number, why: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(why)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
