// Where function content is served from: its own origin per function, under a domain of its own
// (default fn.localhost, which browsers and curl resolve to loopback). Validated here, once, with the
// rest of the config; gateway/dataplane/origins.ts routes requests by it.

import net from 'node:net';
import { z } from 'zod';

export interface FunctionsOrigin {
  protocol: 'http:' | 'https:';
  /** Every function's host is NAME.<domain> (or QUALIFIER.NAME.<domain>). */
  domain: string;
  /** The port in the URLs Stratus hands out; null: the one each request came in on (the listener's). */
  port: string | null;
}

/** The default: each function at http://NAME.fn.localhost on the port the API is reached on. */
export const DEFAULT_FUNCTIONS_DOMAIN = 'fn.localhost';

export const functionsUrl = z.string().superRefine((raw, ctx) => {
  const why = functionsUrlProblem(raw);
  if (why) ctx.addIssue({ code: 'custom', message: why });
});

function functionsUrlProblem(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be a URL such as https://fn.usercontent.example (functions are served at https://NAME.fn.usercontent.example)';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    return 'give only a scheme, a host and maybe a port (each function is a host below it; its paths are its own)';
  }
  const host = url.hostname;
  if (host.startsWith('[') || net.isIP(host)) return 'must be a domain name, not an IP address: each function gets a host name below it';
  if (!host.includes('.')) return `must have at least two labels (e.g. fn.${host}): "${host}" alone would put functions on its top-level names`;
  return null;
}

/** The origin settings from STRATUS_FUNCTIONS_URL (already validated), or the default. */
export function functionsOrigin(raw: string | undefined): FunctionsOrigin {
  if (raw === undefined) return { protocol: 'http:', domain: DEFAULT_FUNCTIONS_DOMAIN, port: null };
  const url = new URL(raw);
  return { protocol: url.protocol as 'http:' | 'https:', domain: url.hostname.replace(/\.$/, ''), port: url.port };
}

/**
 * Whether two hosts are the same or one is a domain above the other: then one can set cookies the other
 * receives (a cookie's Domain attribute names the host or a parent of it), so they must not be the
 * dashboard's and the functions'.
 */
export function hostsOverlap(a: string, b: string): boolean {
  const [x, y] = [a.toLowerCase().replace(/\.$/, ''), b.toLowerCase().replace(/\.$/, '')];
  return x === y || x.endsWith(`.${y}`) || y.endsWith(`.${x}`);
}
