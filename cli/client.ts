// The Stratus API as the CLI calls it: the key on every /v1 call, problem+json answers turned into
// messages that say what to do, and a connection that fails told apart from an API that refuses.

import type { Connection } from './config.js';
import { LOCAL_KEY_FILE } from './config.js';
import { CliError, EXIT, usageError } from './errors.js';

/** A plain API call that takes longer than this is reported, not waited on forever (uploads and streams have none). */
const CALL_TIMEOUT_MS = 60_000;

export interface Problem {
  status: number;
  code?: string;
  detail?: string;
  field?: string;
  [key: string]: unknown;
}

/** An error answer of the API, kept whole for commands that react to a code (e.g. a route not there yet). */
export class ApiError extends CliError {
  constructor(message: string, readonly problem: Problem) {
    super(message, problem.status === 401 ? EXIT.unauthorized : EXIT.failed);
  }
}

export interface CallOptions {
  json?: unknown;
  body?: RequestInit['body'];
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  /** No time limit (uploads, event streams). */
  long?: boolean;
  signal?: AbortSignal;
}

export class ApiClient {
  constructor(readonly conn: Connection) {}

  /** A /v1 call answered with JSON (or nothing: 204 gives undefined). Error answers throw ApiError. */
  async call<T>(method: string, apiPath: string, opts: CallOptions = {}): Promise<T> {
    const res = await this.send(method, apiPath, opts);
    if (!res.ok) throw await this.errorOf(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${this.conn.url}${apiPath} answered ${res.status} with something that is not JSON: is ${this.conn.url} a Stratus? (${text.slice(0, 120)})`);
    }
  }

  /** A /v1 call whose answer the caller reads itself (an event stream); error answers still throw. */
  async stream(apiPath: string, opts: CallOptions = {}): Promise<Response> {
    const res = await this.send('GET', apiPath, { ...opts, long: true });
    if (!res.ok) throw await this.errorOf(res);
    return res;
  }

  /** A call of a function URL: no admin key (the function would see it), any answer returned as it is. */
  async invokeUrl(url: string, init: RequestInit): Promise<Response> {
    return this.#fetch(url, init);
  }

  functionUrl(name: string, subPath = ''): string {
    const rest = subPath === '' || subPath.startsWith('/') || subPath.startsWith('?') ? subPath : `/${subPath}`;
    // "@" stays as it is: NAME@ALIAS and NAME@vN are how a URL names an alias or a version.
    return `${this.conn.url}/fn/${encodeURIComponent(name).replace(/%40/g, '@')}${rest}`;
  }

  async send(method: string, apiPath: string, opts: CallOptions): Promise<Response> {
    if (!this.conn.apiKey) {
      throw usageError(`no API key for ${this.conn.url}: set STRATUS_API_KEY, or run \`stratus login --url ${this.conn.url} --key KEY\` with the key \`npm start\` printed (also in ${LOCAL_KEY_FILE})`);
    }
    const url = new URL(`${this.conn.url}${apiPath}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: `Bearer ${this.conn.apiKey}`, accept: 'application/json, application/problem+json', ...opts.headers };
    let body = opts.body;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    }
    const signals = [opts.signal, opts.long ? undefined : AbortSignal.timeout(CALL_TIMEOUT_MS)].filter((s): s is AbortSignal => s !== undefined);
    return this.#fetch(url.toString(), { method, headers, body, signal: signals.length > 0 ? AbortSignal.any(signals) : undefined });
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (err) {
      throw this.unreachable(err);
    }
  }

  /** A fetch that failed before any answer: what it means for the person at the terminal. */
  unreachable(err: unknown): CliError {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') return new CliError(`Stratus at ${this.conn.url} did not answer within ${CALL_TIMEOUT_MS / 1000} s: is it overloaded or stuck? Its own log says more`, EXIT.unreachable);
    if (e.name === 'AbortError') return new CliError('stopped', EXIT.failed);
    const code = e.cause?.code;
    const where = `${this.conn.url} (from ${this.conn.urlFrom})`;
    if (code === 'ECONNREFUSED') return new CliError(`nothing answers at ${where}: is Stratus running? Start it with \`npm start\`, or point STRATUS_URL at where it runs`, EXIT.unreachable);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new CliError(`cannot resolve the host of ${where}: check the URL (\`stratus config\` shows it)`, EXIT.unreachable);
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return new CliError(`the connection to ${where} was cut: did Stratus stop? Run the command again once it is back`, EXIT.unreachable);
    return new CliError(`cannot reach Stratus at ${where}: ${e.cause?.message ?? e.message}`, EXIT.unreachable);
  }

  async errorOf(res: Response): Promise<ApiError> {
    const text = await res.text().catch(() => '');
    let problem: Problem = { status: res.status };
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      if (parsed && typeof parsed === 'object') problem = { ...parsed, status: res.status };
    } catch {
      // Not problem+json: something in between (a proxy) or not a Stratus at all; the text says which.
    }
    return new ApiError(this.#explain(res, problem, text), problem);
  }

  #explain(res: Response, p: Problem, text: string): string {
    if (res.status === 401) {
      const key = this.conn.keyFrom ? `the API key from ${this.conn.keyFrom}` : 'the API key';
      return `Stratus at ${this.conn.url} refused ${key}: use the admin key \`npm start\` printed (also in ${LOCAL_KEY_FILE} where it runs), with \`stratus login --url ${this.conn.url} --key KEY\` or STRATUS_API_KEY`;
    }
    if (!p.code) return `${this.conn.url} answered ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`;
    let message = `${p.detail ?? res.statusText} (${p.code}${p.field ? `, ${p.field}` : ''})`;
    if (p.code === 'FUNCTION_NOT_FOUND') message += ' — `stratus ls` lists the functions';
    if (p.status >= 500 && p.code === 'INTERNAL') message += ' — the Stratus log says more';
    const retry = res.headers.get('retry-after');
    if (retry) message += ` — try again in ${retry} s`;
    return message;
  }
}
