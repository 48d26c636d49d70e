// Reading the errors of @kubernetes/client-node: an ApiException carries the HTTP code and the API
// server's Status object as text; a watch failure carries statusCode; a network failure carries neither.
// Turned into one sentence an operator can act on (the raw exception, headers included, is only logged).

export interface ApiFailure {
  /** HTTP status, or 0 when the API server was not reached at all. */
  code: number;
  /** Status.reason: NotFound, AlreadyExists, Forbidden, Invalid, Expired... */
  reason: string;
  message: string;
}

export function apiFailure(err: unknown): ApiFailure {
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown };
  const code = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : 0;
  let status: { reason?: string; message?: string } = {};
  if (typeof e.body === 'string') {
    try {
      status = JSON.parse(e.body) as typeof status;
    } catch {
      status = { message: e.body.slice(0, 300) };
    }
  } else if (e.body && typeof e.body === 'object') {
    status = e.body as typeof status;
  }
  const message = status.message ?? (code === 0 && typeof e.message === 'string' ? e.message : '');
  return { code, reason: status.reason ?? '', message };
}

export const isApiStatus = (err: unknown, code: number): boolean => apiFailure(err).code === code;

/** "creating pod stratus-x in namespace stratus: ..." with a hint for the failures an operator can fix. */
export function describeApiFailure(err: unknown, action: string, namespace: string): string {
  const f = apiFailure(err);
  const said = f.message ? `: ${f.message}` : '';
  if (f.code === 0) return `${action}: the Kubernetes API server could not be reached${said}`;
  if (f.code === 401) return `${action}: the Kubernetes API server refused the credentials (401); check the kubeconfig or the pod's service account token`;
  if (f.code === 403) {
    return `${action}: forbidden (403)${said}; the service account needs create/get/list/watch/patch/delete on pods and get on pods/log in namespace ${namespace} (see deploy/rbac.yaml)`;
  }
  if (f.code === 404 && f.reason === 'NotFound' && /namespaces? /.test(f.message)) return `${action}: namespace ${namespace} does not exist; create it or set STRATUS_K8S_NAMESPACE`;
  if (f.code === 409) return `${action}: it already exists (409 ${f.reason || 'Conflict'})${said}`;
  return `${action}: the Kubernetes API answered ${f.code}${f.reason ? ` ${f.reason}` : ''}${said}`;
}
