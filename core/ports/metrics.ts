// What the data plane and the API need of the platform's metrics, by shape: core/platform-metrics.ts and
// core/metrics.ts are what the composition root passes.

type InvocationLabels = { function: string; status: string };

/**
 * The slice of core/platform-metrics.ts a data plane records into per call. Declared structurally so
 * the data plane depends on what it uses, not on how the metrics module is built.
 */
export interface InvocationMetrics {
  invocations: { inc(labels: InvocationLabels): void };
  invocationSeconds: { observe(labels: InvocationLabels, seconds: number): void };
  coldStartPhaseSeconds: { observe(labels: { kind: string; phase: string }, seconds: number): void };
}

export interface MetricsSource {
  /** Prometheus text exposition format. */
  render(): string | Promise<string>;
  /** Drop every series whose `label` is `value`: a deleted function's (core/platform-metrics.ts forgetFunction). */
  forget?(label: string, value: string): unknown;
}
