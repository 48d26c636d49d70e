// Whether this replica wants new calls: what GET /readyz answers, for a load balancer's health checks and a
// Kubernetes readinessProbe. It is not liveness (GET /healthz): a replica that drains is alive and still
// serves the calls that reach it, but the balancer should stop sending them. A stop flips it first
// (platform/shutdown.ts, the notice phase) and waits STRATUS_DRAIN_NOTICE_MS before intake closes, so the
// balancer has taken the replica out by then and no call meets a closed listener.
//
// It does not look at Redis or Docker: they are shared by every replica, so a readiness that followed them
// would take all replicas out at once — and the data plane serves warm instances without Redis.

export class Readiness {
  #draining = false;

  get ready(): boolean {
    return !this.#draining;
  }

  /** From now on /readyz answers 503; nothing else changes (calls are still served). */
  drain(): void {
    this.#draining = true;
  }
}
