// Which origin a request was sent to, and what that origin may serve. Function content is written by
// whoever can deploy (or by a function with an XSS bug): served from the dashboard's origin, its scripts
// would act with the operator's session. So, as Lambda function URLs and Workers do, each function is
// served from a host of its own under the functions' domain (NAME.fn.localhost by default), which shares
// no cookies, no service-worker scope and no site with the API and dashboard (127.0.0.1, or the public
// URL). /fn/NAME on the API's origin stays for programs (the CLI, curl, SDKs) but is sandboxed: see
// SANDBOXED_ANSWER.

import type { Config } from '../../core/config.js';
import { FUNCTION_NAME } from '../../core/function-config.js';
import type { AnswerHeaders } from './http-policy.js';
import { REQUEST_ID_HEADER } from '../../core/invocation-contract.js';


/** What may stand before NAME in a function's host: an alias name, or "v" and a version number. */
export const QUALIFIER = /^(?:v\d{1,9}|[a-z][a-z0-9-]{0,62})$/;

/** A function host: NAME.<domain>, or QUALIFIER.NAME.<domain> for an alias or a version. */
export interface FunctionHost {
  name: string;
  qualifier: string | null;
}

/**
 * What a function's answer carries when it is served on the API's origin: a CSP sandbox without
 * allow-same-origin or allow-scripts gives the page an opaque origin and runs none of its scripts, so it
 * can read nothing of the dashboard, register no service worker and set no cookie; nosniff keeps a
 * script or stylesheet from being read out of a text/plain answer. The function's own headers that act
 * on the origin rather than on the page are dropped: Set-Cookie (it could plant a narrower-path session
 * cookie that locks the operator out), Service-Worker-Allowed (a worker's scope beyond /fn/NAME/) and
 * Clear-Site-Data (it would sign the operator out).
 */
export const SANDBOXED_ANSWER: AnswerHeaders = {
  add: ['content-security-policy', 'sandbox', 'x-content-type-options', 'nosniff'],
  drop: new Set([REQUEST_ID_HEADER, 'set-cookie', 'service-worker-allowed', 'clear-site-data']),
};

/** SANDBOXED_ANSWER on top of a function's CORS headers (both apply; the CORS drops are kept). */
export function sandboxed(cors: AnswerHeaders | undefined): AnswerHeaders {
  if (cors === undefined) return SANDBOXED_ANSWER;
  return { add: [...SANDBOXED_ANSWER.add, ...cors.add], drop: new Set([...SANDBOXED_ANSWER.drop, ...cors.drop]) };
}

export class Origins {
  readonly #suffix: string;

  constructor(private readonly cfg: Pick<Config, 'functions' | 'publicUrl' | 'port'>) {
    this.#suffix = `.${cfg.functions.domain}`;
  }

  get domain(): string {
    return this.cfg.functions.domain;
  }

  /**
   * The function a request's Host names; 'none' for a host under the functions' domain that names no
   * function (the bare domain, a malformed name); null for any other host: the API's origin.
   */
  functionHost(hostHeader: string | undefined): FunctionHost | 'none' | null {
    if (hostHeader === undefined) return null;
    const host = hostnameOf(hostHeader);
    if (host === this.cfg.functions.domain) return 'none';
    if (!host.endsWith(this.#suffix)) return null;
    const labels = host.slice(0, -this.#suffix.length).split('.');
    const [qualifier, name] = labels.length === 1 ? [null, labels[0]!] : labels.length === 2 ? [labels[0]!, labels[1]!] : [null, ''];
    if (!FUNCTION_NAME.test(name) || (qualifier !== null && !QUALIFIER.test(qualifier))) return 'none';
    return { name, qualifier };
  }

  /**
   * Whether a host is one function hosts could set cookies for (the functions' domain or a domain above
   * it, e.g. "localhost" for "fn.localhost"): the dashboard is never served there.
   */
  sharesCookiesWithFunctions(hostHeader: string | undefined): boolean {
    if (hostHeader === undefined) return false;
    const host = hostnameOf(hostHeader);
    return host === this.cfg.functions.domain || this.cfg.functions.domain.endsWith(`.${host}`) || host.endsWith(this.#suffix);
  }

  /**
   * A function's own URL (a browser's way in): http://NAME.fn.localhost:PORT/, with the port of the host
   * the asking request named when none is configured (else the configured listen port).
   */
  functionUrl(name: string, requestHost: string | undefined, qualifier: string | null = null): string {
    const { protocol, domain, port } = this.cfg.functions;
    const shown = port ?? (requestHost === undefined ? (this.cfg.port === 0 ? '' : String(this.cfg.port)) : portOf(requestHost));
    return `${protocol}//${qualifier ? `${qualifier}.` : ''}${name}.${domain}${shown ? `:${shown}` : ''}/`;
  }
}

/** The host name of a Host header, lower-case, without port or trailing dot. */
function hostnameOf(hostHeader: string): string {
  const lower = hostHeader.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.lastIndexOf(':');
  const host = colon === -1 ? lower : lower.slice(0, colon);
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

function portOf(hostHeader: string): string {
  const colon = hostHeader.lastIndexOf(':');
  return colon === -1 || hostHeader.endsWith(']') ? '' : hostHeader.slice(colon + 1);
}

/**
 * Where the dashboard is, seen from a request that reached it on a host function content could set cookies
 * for: the public URL, else the address Stratus listens on (127.0.0.1 for a wildcard) with the same port.
 */
export function dashboardOrigin(cfg: Pick<Config, 'publicUrl' | 'host'>, requestHost: string): string {
  if (cfg.publicUrl) return new URL(cfg.publicUrl).origin;
  const wildcard = cfg.host === '0.0.0.0' || cfg.host === '::' || cfg.host === '';
  const host = wildcard || !/^[\d.:a-f]+$/i.test(cfg.host) ? '127.0.0.1' : cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  const port = portOf(requestHost);
  return `http://${host}${port ? `:${port}` : ''}`;
}
