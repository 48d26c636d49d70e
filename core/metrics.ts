// A tiny Prometheus registry (text exposition format 0.0.4) with no dependency. Metrics are updated on
// the request hot path, so an update is one Map lookup keyed by the label values joined with a separator
// that cannot appear in practice, and updating an existing series allocates nothing. Names are checked
// once, at registration; rendering (a scrape) is where strings get built.

import { StratusError } from './errors.js';

type Labels = Record<string, string>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Joins label values into a series key; a control character keeps ("a\u0001", "b") apart from ("a", "\u0001b") in practice. */
const SEP = '\u0001';

export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function programmingError(message: string, field?: string): StratusError {
  return new StratusError('INTERNAL', message, field ? { field } : {});
}

/** The series key of `labels`: built without an intermediate array for the common 0-2 label cases. */
function keyOf(labelNames: readonly string[], labels: Labels | undefined): string {
  const n = labelNames.length;
  if (n === 0) return '';
  if (labels === undefined) throw programmingError(`metric labels missing: expected ${labelNames.join(', ')}`);
  if (n === 1) return labels[labelNames[0]!] ?? '';
  if (n === 2) return (labels[labelNames[0]!] ?? '') + SEP + (labels[labelNames[1]!] ?? '');
  let key = labels[labelNames[0]!] ?? '';
  for (let i = 1; i < n; i++) key += SEP + (labels[labelNames[i]!] ?? '');
  return key;
}

/** Checks the label set of a new series (slow path only): exactly the registered names, string values. */
function labelValues(metric: string, labelNames: readonly string[], labels: Labels | undefined): string[] {
  const given = labels ? Object.keys(labels) : [];
  for (const name of given) {
    if (!labelNames.includes(name)) throw programmingError(`metric ${metric} has no label "${name}"; its labels are: ${labelNames.join(', ') || '(none)'}`, name);
  }
  return labelNames.map((name) => {
    const v = labels?.[name];
    if (typeof v !== 'string') throw programmingError(`metric ${metric} needs a string value for label "${name}"`, name);
    return v;
  });
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelBlock(names: readonly string[], values: readonly string[], extra?: string): string {
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) parts.push(`${names[i]}="${escapeLabelValue(values[i]!)}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

abstract class Metric<S extends { values: string[] }> {
  protected readonly series = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected abstract newSeries(values: string[]): S;
  protected abstract renderSeries(s: S, out: string[]): void;

  /** The series of `labels`, created on first use (the only place that allocates). */
  protected seriesOf(labels: Labels | undefined): S {
    const key = keyOf(this.labelNames, labels);
    let s = this.series.get(key);
    if (s === undefined) {
      s = this.newSeries(labelValues(this.name, this.labelNames, labels));
      this.series.set(key, s);
    }
    return s;
  }

  /** Create the series of `labels` without changing it, so that it renders (at 0) before its first event. */
  touch(labels: Labels = {}): void {
    this.seriesOf(labels);
  }

  /**
   * Drop every series whose `label` is `value` (a deleted function's, say): a series once created renders
   * until removed, and a scraper would keep storing a dead function's last values. Returns how many went.
   */
  forget(label: string, value: string): number {
    const at = this.labelNames.indexOf(label);
    if (at < 0) return 0;
    let n = 0;
    for (const [key, s] of this.series) {
      if (s.values[at] !== value) continue;
      this.series.delete(key);
      n++;
    }
    return n;
  }

  /** Number of label combinations this metric holds (watch it: each one is a time series to store). */
  get cardinality(): number {
    return this.series.size;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    for (const s of this.series.values()) this.renderSeries(s, out);
  }
}

interface ValueSeries {
  values: string[];
  value: number;
}

export class Counter extends Metric<ValueSeries> {
  readonly type = 'counter';

  inc(labels: Labels, n = 1): void {
    if (!(n >= 0)) throw programmingError(`counter ${this.name} can only increase (got ${n})`);
    this.seriesOf(labels).value += n;
  }

  /** Current value of a series (0 when never incremented): for tests and the CLI. */
  get(labels: Labels = {}): number {
    return this.series.get(keyOf(this.labelNames, labels))?.value ?? 0;
  }

  protected newSeries(values: string[]): ValueSeries {
    return { values, value: 0 };
  }

  protected renderSeries(s: ValueSeries, out: string[]): void {
    out.push(`${this.name}${labelBlock(this.labelNames, s.values)} ${formatValue(s.value)}`);
  }
}

export class Gauge extends Metric<ValueSeries> {
  readonly type = 'gauge';

  set(labels: Labels, v: number): void {
    this.seriesOf(labels).value = v;
  }

  inc(labels: Labels, n = 1): void {
    this.seriesOf(labels).value += n;
  }

  dec(labels: Labels, n = 1): void {
    this.seriesOf(labels).value -= n;
  }

  /** Forget every series: a collect callback calls it before setting the values that exist now. */
  reset(): void {
    this.series.clear();
  }

  get(labels: Labels = {}): number | undefined {
    return this.series.get(keyOf(this.labelNames, labels))?.value;
  }

  protected newSeries(values: string[]): ValueSeries {
    return { values, value: 0 };
  }

  protected renderSeries(s: ValueSeries, out: string[]): void {
    out.push(`${this.name}${labelBlock(this.labelNames, s.values)} ${formatValue(s.value)}`);
  }
}

interface HistogramSeries {
  values: string[];
  /** Observations per bucket (not cumulative; the last slot is above the highest bound). */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class Histogram extends Metric<HistogramSeries> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];
  readonly #bounds: string[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    this.buckets = buckets;
    this.#bounds = buckets.map((b) => `le="${formatValue(b)}"`);
  }

  observe(labels: Labels, seconds: number): void {
    if (Number.isNaN(seconds)) return;
    const s = this.seriesOf(labels);
    const b = this.buckets;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    s.counts[i]! += 1;
    s.sum += seconds;
    s.count += 1;
  }

  /** Count and sum of a series: for tests. */
  get(labels: Labels = {}): { count: number; sum: number } {
    const s = this.series.get(keyOf(this.labelNames, labels));
    return { count: s?.count ?? 0, sum: s?.sum ?? 0 };
  }

  protected newSeries(values: string[]): HistogramSeries {
    return { values, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
  }

  protected renderSeries(s: HistogramSeries, out: string[]): void {
    let cumulative = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cumulative += s.counts[i]!;
      out.push(`${this.name}_bucket${labelBlock(this.labelNames, s.values, this.#bounds[i])} ${formatValue(cumulative)}`);
    }
    out.push(`${this.name}_bucket${labelBlock(this.labelNames, s.values, 'le="+Inf"')} ${formatValue(s.count)}`);
    out.push(`${this.name}_sum${labelBlock(this.labelNames, s.values)} ${formatValue(s.sum)}`);
    out.push(`${this.name}_count${labelBlock(this.labelNames, s.values)} ${formatValue(s.count)}`);
  }
}

export class MetricsRegistry {
  readonly #metrics = new Map<string, Counter | Gauge | Histogram>();
  readonly #collectors: Array<() => void> = [];

  counter(name: string, help: string, labelNames: string[]): Counter {
    return this.#register(new Counter(name, help, this.#checkLabels(name, labelNames)));
  }

  gauge(name: string, help: string, labelNames: string[]): Gauge {
    return this.#register(new Gauge(name, help, this.#checkLabels(name, labelNames)));
  }

  histogram(name: string, help: string, labelNames: string[], buckets: number[] = DEFAULT_BUCKETS): Histogram {
    const names = this.#checkLabels(name, labelNames);
    if (names.includes('le')) throw programmingError(`histogram ${name} cannot use the label "le": Prometheus reserves it for buckets`, 'le');
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) {
      throw programmingError(`histogram ${name} needs finite buckets in strictly increasing order`, 'buckets');
    }
    return this.#register(new Histogram(name, help, names, [...buckets]));
  }

  /** Run `fn` before each render: for values computed at scrape time (e.g. instances by state). */
  collect(fn: () => void): void {
    this.#collectors.push(fn);
  }

  /** Drop the series of every metric whose `label` is `value`; metrics without that label are left alone. */
  forget(label: string, value: string): number {
    let n = 0;
    for (const m of this.#metrics.values()) n += m.forget(label, value);
    return n;
  }

  /** The text exposition (Content-Type: text/plain; version=0.0.4). */
  render(): string {
    for (const fn of this.#collectors) fn();
    const out: string[] = [];
    for (const m of this.#metrics.values()) m.render(out);
    return out.length === 0 ? '' : out.join('\n') + '\n';
  }

  #checkLabels(name: string, labelNames: string[]): readonly string[] {
    if (!METRIC_NAME.test(name)) throw programmingError(`metric name "${name}" is not valid: use [a-zA-Z_:][a-zA-Z0-9_:]*`, 'name');
    if (this.#metrics.has(name)) throw programmingError(`metric ${name} is registered twice`, 'name');
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__')) throw programmingError(`label name "${l}" of ${name} is not valid: use [a-zA-Z_][a-zA-Z0-9_]* without a leading "__"`, l);
    }
    if (new Set(labelNames).size !== labelNames.length) throw programmingError(`metric ${name} repeats a label name`, 'labelNames');
    return Object.freeze([...labelNames]);
  }

  #register<M extends Counter | Gauge | Histogram>(m: M): M {
    this.#metrics.set(m.name, m);
    // A counter or histogram without labels has exactly one series: show it at 0 before the first event.
    if (m.labelNames.length === 0 && m.type !== 'gauge') m.touch();
    return m;
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
