// Typed errors with a stable code. A StratusError leaves the API as application/problem+json:
// `code` is stable and documented (see ERROR_CATALOGUE), `message` is written for the person who
// has to act on it. Internal causes are logged, never sent to the caller.

export const ERROR_CATALOGUE = {
  UNAUTHORIZED: { status: 401, title: 'Missing or wrong key' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  FUNCTION_NOT_FOUND: { status: 404, title: 'Function not found' },
  BUILD_NOT_FOUND: { status: 404, title: 'Build not found' },
  SOURCE_NOT_KEPT: { status: 404, title: 'The version has no kept source' },
  INVALID_CONFIG: { status: 400, title: 'Invalid function configuration' },
  INVALID_REQUEST: { status: 400, title: 'Invalid request' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Content too large' },
  BAD_ARCHIVE: { status: 422, title: 'The uploaded code could not be unpacked safely' },
  FUNCTION_NOT_READY: { status: 503, title: 'Function has no deployable version yet' },
  FUNCTION_UNAVAILABLE: { status: 503, title: 'Function is unavailable' },
  TOO_MANY_REQUESTS: { status: 429, title: 'Too many requests' },
  FUNCTION_TIMEOUT: { status: 504, title: 'Function timed out' },
  FUNCTION_ERROR: { status: 500, title: 'The function threw an error' },
  FUNCTION_CRASHED: { status: 502, title: 'Function crashed' },
  FUNCTION_BAD_RESPONSE: { status: 502, title: 'Function sent an invalid HTTP response' },
  FUNCTION_OUT_OF_MEMORY: { status: 502, title: 'Function ran out of memory' },
  INSTANCE_START_FAILED: { status: 502, title: 'Function instance could not start' },
  SHUTTING_DOWN: { status: 503, title: 'Stratus is shutting down' },
  CONFLICT: { status: 409, title: 'Conflict' },
  INVALID_TRIGGER: { status: 400, title: 'Invalid trigger' },
  TRIGGER_NOT_FOUND: { status: 404, title: 'Trigger not found' },
  ROLLOUT_ABANDONED: { status: 503, title: 'The new version got no ready instance in time' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this function URL' },
  HOOK_NOT_CONFIGURED: { status: 503, title: 'Webhook not configured' },
  CORS_PREFLIGHT_REFUSED: { status: 403, title: 'CORS preflight refused by the function URL' },
  GIT_NOT_CONFIGURED: { status: 404, title: 'Function has no git settings' },
  GIT_REPOSITORY_REFUSED: { status: 403, title: 'Repository refused' },
  GIT_FETCH_FAILED: { status: 502, title: 'The pushed commit could not be fetched' },
  CSRF_REFUSED: { status: 403, title: 'Dashboard action refused: not from a dashboard page' },
  SIGN_IN_THROTTLED: { status: 429, title: 'Too many wrong keys at the dashboard sign-in' },
  SERVICE_WORKER_REFUSED: { status: 403, title: 'No service worker from function content on the API\'s origin' },
  MISDIRECTED_REQUEST: { status: 421, title: 'Not served on this host' },
  INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface ErrorDetails {
  /** The request field or limit that was broken, e.g. "config.memoryMb". */
  field?: string;
  /** Seconds a client should wait before retrying (sent as Retry-After). */
  retryAfterSeconds?: number;
  [key: string]: unknown;
}

export class StratusError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StratusError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = details;
  }

  /** Client errors (4xx) are the caller's to fix; others are ours and get logged with their cause. */
  get isUserError(): boolean {
    return this.status < 500;
  }
}

/** The API's answer for a function name the store does not know. */
export function functionNotFound(name: string): StratusError {
  return new StratusError('FUNCTION_NOT_FOUND', `no function named "${name}"; list them with GET /v1/functions`, { function: name });
}

export function isStratusError(err: unknown): err is StratusError {
  return err instanceof StratusError;
}

/**
 * Where the gateway serves the error catalogue (docs/errors.md; gateway/api/routes/system.ts). A problem's `type` is
 * a reference to the code's entry there — relative (RFC 9457 allows a URI reference), so it resolves against the
 * Stratus that answered rather than naming a domain, and its fragment is the entry's heading anchor.
 */
export const ERROR_DOCS_PATH = '/docs/errors.md';

export function problemType(code: ErrorCode): string {
  return `${ERROR_DOCS_PATH}#${code.toLowerCase()}`;
}

/** RFC 9457 problem details body for an error. */
export function toProblem(err: StratusError, instance?: string): Record<string, unknown> {
  const { retryAfterSeconds: _r, ...extra } = err.details;
  return {
    type: problemType(err.code),
    title: ERROR_CATALOGUE[err.code].title,
    status: err.status,
    code: err.code,
    detail: err.message,
    ...(instance ? { instance } : {}),
    ...extra,
  };
}
