// Opens the Kubernetes backend (STRATUS_BACKEND=kubernetes): the kubeconfig the usual way (KUBECONFIG,
// ~/.kube/config, else the pod's service account when Stratus runs in the cluster), one request to prove
// the API answers and lets us list pods in the namespace, and no fallback: a platform configured for a
// cluster that silently ran functions elsewhere would be worse than one that does not start.

import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../../core/config.js';
import { StratusError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { describeApiFailure } from '../../scheduler/backends/kubernetes-api.js';
import { KubernetesBackend } from '../../scheduler/backends/kubernetes.js';
import type { CodeUrlIssuer } from '../../scheduler/code/code-urls.js';

const PROBE_TIMEOUT_MS = 5000;

/** KubeConfig.loadFromDefault(); its last resort when nothing is configured is this made-up cluster. */
export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** `codeUrls`: signed code URLs reachable from pods (STRATUS_INTERNAL_URL); absent: no stems. */
export async function openKubernetesBackend(
  config: Config,
  platformId: string,
  logger: Logger,
  loadKubeConfig: () => KubeConfig = defaultKubeConfig,
  codeUrls?: CodeUrlIssuer,
): Promise<KubernetesBackend> {
  const { namespace, context } = config.backend.kubernetes;
  const invalid = (msg: string, field = 'STRATUS_BACKEND') => new StratusError('INVALID_CONFIG', msg, { field });
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig();
  } catch (err) {
    throw invalid(`STRATUS_BACKEND=kubernetes but the kubeconfig could not be loaded: ${(err as Error).message}; set KUBECONFIG or run Stratus in a pod with a service account`);
  }
  if (context) {
    if (!kc.getContextObject(context)) {
      throw invalid(`STRATUS_K8S_CONTEXT=${context} is not a context of the kubeconfig (known: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`, 'STRATUS_K8S_CONTEXT');
    }
    kc.setCurrentContext(context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster || (cluster.name === 'cluster' && cluster.server === 'http://localhost:8080')) {
    throw invalid('STRATUS_BACKEND=kubernetes but no cluster is configured: no KUBECONFIG, no ~/.kube/config, and not running in a pod with a service account');
  }

  try {
    const api = kc.makeApiClient(CoreV1Api);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
    });
    await Promise.race([api.listNamespacedPod({ namespace, limit: 1 }), timeout]).finally(() => clearTimeout(timer));
  } catch (err) {
    throw invalid(`STRATUS_BACKEND=kubernetes: ${describeApiFailure(err, `listing pods in namespace ${namespace} at ${cluster.server}`, namespace)}`);
  }

  logger.info('backend: Kubernetes', { server: cluster.server, context: kc.getCurrentContext(), namespace });
  return new KubernetesBackend({
    kubeConfig: kc,
    namespace,
    platformId,
    functionUid: config.backend.functionUid,
    startTimeoutMs: config.backend.startTimeoutMs,
    ...(codeUrls ? { codeUrls } : {}),
    logger: logger.child({ component: 'kubernetes-backend' }),
  });
}
