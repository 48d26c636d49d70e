// The registry's output is checked by parsing it back with a strict reader of the text exposition
// format: every line must be a HELP, a TYPE or a sample of a declared metric, label values must
// round-trip through escaping, and histogram buckets must be cumulative.

import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../core/metrics.js';
import { createPlatformMetrics, forgetFunction, LATENCY_BUCKETS } from '../../core/platform-metrics.js';
import { StratusError } from '../../core/errors.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  help: string;
  type: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(${LABEL}(?:,${LABEL})*)\\})? (\\S+)$`);
const LABEL_PAIR = new RegExp(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`, 'g');

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(v: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (v === 'NaN') return NaN;
  expect(v).toMatch(/^-?\d+(\.\d+)?(e[+-]?\d+)?$/);
  return Number(v);
}

/** Parses an exposition strictly; fails the test on any line that is not HELP, TYPE or a declared sample. */
function parseExposition(text: string): Map<string, Family> {
  expect(text.endsWith('\n')).toBe(true);
  const families = new Map<string, Family>();
  let current: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    const type = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line);
    if (help) {
      expect(families.has(help[1]!), `${help[1]} declared twice`).toBe(false);
      families.set(help[1]!, { help: help[2]!, type: '', samples: [] });
      current = help[1]!;
      continue;
    }
    if (type) {
      expect(type[1]).toBe(current);
      families.get(current!)!.type = type[2]!;
      continue;
    }
    const m = SAMPLE_LINE.exec(line);
    expect(m, `not a valid sample line: ${JSON.stringify(line)}`).not.toBeNull();
    const [, name, labelText, value] = m!;
    const family = families.get(current!)!;
    const suffixes = family.type === 'histogram' ? ['_bucket', '_sum', '_count'] : [''];
    expect(suffixes.map((s) => current + s)).toContain(name);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (labelText ?? '').matchAll(LABEL_PAIR)) {
      expect(labels[k!], `label ${k} repeated`).toBeUndefined();
      labels[k!] = unescape(v!);
    }
    family.samples.push({ name: name!, labels, value: parseValue(value!) });
  }
  return families;
}

describe('MetricsRegistry rendering', () => {
  it('renders HELP, TYPE and one line per series that parses back', () => {
    const r = new MetricsRegistry();
    const c = r.counter('app_requests_total', 'Requests.\nSecond line with a \\ backslash.', ['route', 'code']);
    c.inc({ route: '/a', code: '200' });
    c.inc({ route: '/a', code: '200' }, 2);
    c.inc({ code: '500', route: '/b' });
    const f = parseExposition(r.render()).get('app_requests_total')!;
    expect(f.type).toBe('counter');
    expect(f.help).toBe('Requests.\\nSecond line with a \\\\ backslash.');
    expect(f.samples).toEqual([
      { name: 'app_requests_total', labels: { route: '/a', code: '200' }, value: 3 },
      { name: 'app_requests_total', labels: { route: '/b', code: '500' }, value: 1 },
    ]);
  });

  it('escapes backslash, double quote and newline in label values', () => {
    const r = new MetricsRegistry();
    const nasty = 'a"b\\c\nd}{,=';
    r.gauge('g', 'A gauge.', ['v']).set({ v: nasty }, 1.5);
    const text = r.render();
    expect(text).toContain('g{v="a\\"b\\\\c\\nd}{,="} 1.5\n');
    expect(parseExposition(text).get('g')!.samples[0]!.labels.v).toBe(nasty);
  });

  it('renders histograms with cumulative buckets, +Inf, _sum and _count; a bound is inclusive', () => {
    const r = new MetricsRegistry();
    const h = r.histogram('lat_seconds', 'Latency.', ['fn'], [0.01, 0.1, 1]);
    for (const v of [0.005, 0.01, 0.05, 0.5, 0.7, 3]) h.observe({ fn: 'x' }, v);
    const samples = parseExposition(r.render()).get('lat_seconds')!.samples;
    const buckets = samples.filter((s) => s.name === 'lat_seconds_bucket');
    expect(buckets.map((b) => [b.labels.le, b.value])).toEqual([
      ['0.01', 2],
      ['0.1', 3],
      ['1', 5],
      ['+Inf', 6],
    ]);
    expect(buckets.every((b) => b.labels.fn === 'x')).toBe(true);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(samples.find((s) => s.name === 'lat_seconds_sum')!.value).toBeCloseTo(4.265, 9);
    expect(samples.find((s) => s.name === 'lat_seconds_count')!.value).toBe(6);
    expect(h.get({ fn: 'x' })).toEqual({ count: 6, sum: expect.closeTo(4.265, 9) });
  });

  it('shows a label-less counter and histogram at 0 before their first event', () => {
    const r = new MetricsRegistry();
    r.counter('up_total', 'Starts.', []);
    r.histogram('h_seconds', 'H.', [], [1]);
    const f = parseExposition(r.render());
    expect(f.get('up_total')!.samples).toEqual([{ name: 'up_total', labels: {}, value: 0 }]);
    expect(f.get('h_seconds')!.samples.map((s) => s.value)).toEqual([0, 0, 0, 0]);
  });

  it('renders an empty registry as an empty document', () => {
    expect(new MetricsRegistry().render()).toBe('');
  });
});

describe('MetricsRegistry values', () => {
  it('counters only increase', () => {
    const r = new MetricsRegistry();
    const c = r.counter('c_total', 'C.', ['k']);
    c.inc({ k: 'a' });
    c.inc({ k: 'a' }, 4);
    expect(c.get({ k: 'a' })).toBe(5);
    expect(() => c.inc({ k: 'a' }, -1)).toThrow(/only increase/);
    expect(c.get({ k: 'a' })).toBe(5);
  });

  it('gauges set, inc and dec', () => {
    const r = new MetricsRegistry();
    const g = r.gauge('q', 'Q.', ['fn']);
    g.inc({ fn: 'a' });
    g.inc({ fn: 'a' }, 3);
    g.dec({ fn: 'a' });
    expect(g.get({ fn: 'a' })).toBe(3);
    g.set({ fn: 'a' }, -2);
    expect(g.get({ fn: 'a' })).toBe(-2);
  });

  it('runs collect callbacks before each render, so scrape-time gauges are current and vanished series go', () => {
    const r = new MetricsRegistry();
    const instances = r.gauge('instances', 'Instances by state.', ['state']);
    let states: Record<string, number> = { ready: 2, starting: 1 };
    r.collect(() => {
      instances.reset();
      for (const [state, n] of Object.entries(states)) instances.set({ state }, n);
    });
    const first = parseExposition(r.render()).get('instances')!.samples;
    expect(first.map((s) => [s.labels.state, s.value])).toEqual([
      ['ready', 2],
      ['starting', 1],
    ]);
    states = { ready: 3 };
    const second = parseExposition(r.render()).get('instances')!.samples;
    expect(second.map((s) => [s.labels.state, s.value])).toEqual([['ready', 3]]);
  });

  it('keeps one series per label combination, whatever the key order of the labels object', () => {
    const r = new MetricsRegistry();
    const c = r.counter('inv_total', 'Invocations.', ['function', 'status']);
    for (let i = 0; i < 100; i++) c.inc({ function: `f${i % 3}`, status: i % 2 === 0 ? '200' : '500' });
    c.inc({ status: '200', function: 'f0' });
    expect(c.cardinality).toBe(6);
    expect(c.get({ function: 'f0', status: '200' })).toBe(18);
    expect(parseExposition(r.render()).get('inv_total')!.samples).toHaveLength(6);
  });

  it('forgets a deleted function in every metric labelled by function, and only there', () => {
    const r = new MetricsRegistry();
    const m = createPlatformMetrics(r);
    for (const fn of ['gone', 'kept']) {
      m.invocations.inc({ function: fn, status: '200' });
      m.invocationSeconds.observe({ function: fn, status: '200' }, 0.01);
      m.coldStarts.inc({ function: fn, kind: 'stem' });
      m.dispatchSeconds.observe({ function: fn }, 0);
    }
    // A function named like another label's value leaves that label's series alone.
    m.builds.inc({ status: 'gone' });
    m.coldStartPhaseSeconds.observe({ kind: 'stem', phase: 'init' }, 0.005);
    forgetFunction(r, 'gone');
    const text = r.render();
    expect(text).not.toContain('function="gone"');
    const families = parseExposition(text);
    for (const name of ['stratus_invocations_total', 'stratus_invocation_seconds', 'stratus_cold_starts_total', 'stratus_dispatch_seconds']) {
      expect(families.get(name)!.samples.length, name).toBeGreaterThan(0);
      expect(families.get(name)!.samples.every((s) => s.labels.function === 'kept'), name).toBe(true);
    }
    expect(m.builds.get({ status: 'gone' })).toBe(1);
    expect(m.coldStartPhaseSeconds.get({ kind: 'stem', phase: 'init' }).count).toBe(1);
    // A series made again after the delete (a function of the same name) starts from zero.
    m.invocations.inc({ function: 'gone', status: '200' });
    expect(m.invocations.get({ function: 'gone', status: '200' })).toBe(1);
  });

  it('rejects an unknown or missing label when a series is created', () => {
    const r = new MetricsRegistry();
    const c = r.counter('x_total', 'X.', ['a', 'b']);
    expect(() => c.inc({ a: '1', b: '2', c: '3' } as Record<string, string>)).toThrow(/no label "c"/);
    expect(() => c.inc({ a: '1' })).toThrow(/label "b"/);
    expect(c.cardinality).toBe(0);
  });
});

describe('MetricsRegistry registration', () => {
  it('validates names, label names and buckets once, at registration', () => {
    const r = new MetricsRegistry();
    expect(() => r.counter('bad-name', 'x', [])).toThrow(StratusError);
    expect(() => r.counter('9lives', 'x', [])).toThrow(/not valid/);
    expect(() => r.gauge('ok', 'x', ['bad label'])).toThrow(/label name/);
    expect(() => r.gauge('ok', 'x', ['__reserved'])).toThrow(/label name/);
    expect(() => r.gauge('ok', 'x', ['a', 'a'])).toThrow(/repeats/);
    expect(() => r.histogram('h', 'x', ['le'])).toThrow(/reserves/);
    expect(() => r.histogram('h', 'x', [], [1, 0.5])).toThrow(/increasing/);
    expect(() => r.histogram('h', 'x', [], [])).toThrow(/increasing/);
    r.counter('once_total', 'x', []);
    expect(() => r.gauge('once_total', 'x', [])).toThrow(/twice/);
  });
});

describe('createPlatformMetrics', () => {
  it('registers every Stratus metric with its labels, and the exposition parses', () => {
    const r = new MetricsRegistry();
    const m = createPlatformMetrics(r);
    m.instances.set({ function: 'hello', state: 'ready' }, 2);
    m.coldStarts.inc({ function: 'hello', kind: 'stem' });
    m.queueDepth.set({ function: 'hello' }, 0);
    m.dispatchSeconds.observe({ function: 'hello' }, 0.0004);
    m.invocationSeconds.observe({ function: 'hello', status: '200' }, 0.02);
    m.invocations.inc({ function: 'hello', status: '200' });
    m.coldStartPhaseSeconds.observe({ kind: 'container', phase: 'first_byte' }, 0.3);
    m.stemsReady.set({ runtime: 'node' }, 1);
    m.builds.inc({ status: 'succeeded' });
    m.buildSeconds.observe({ phase: 'image' }, 42);
    m.billedGbSeconds.inc({ function: 'hello' }, 0.00625);
    m.billedRequests.inc({ function: 'hello' }, 1);

    const families = parseExposition(r.render());
    expect(Object.fromEntries([...families].map(([name, f]) => [name, f.type]))).toEqual({
      stratus_instances: 'gauge',
      stratus_cold_starts_total: 'counter',
      stratus_queue_depth: 'gauge',
      stratus_dispatch_seconds: 'histogram',
      stratus_invocation_seconds: 'histogram',
      stratus_invocations_total: 'counter',
      stratus_cold_start_phase_seconds: 'histogram',
      stratus_stems_ready: 'gauge',
      stratus_builds_total: 'counter',
      stratus_build_seconds: 'histogram',
      stratus_billed_gb_seconds_total: 'counter',
      stratus_billed_requests_total: 'counter',
    });
    for (const f of families.values()) expect(f.help.length).toBeGreaterThan(10);
    const dispatch = families.get('stratus_dispatch_seconds')!.samples.filter((s) => s.name.endsWith('_bucket'));
    expect(dispatch[0]).toMatchObject({ labels: { function: 'hello', le: '0.0005' }, value: 1 });
    expect(m.instances.labelNames).toEqual(['function', 'state']);
    expect(m.coldStartPhaseSeconds.labelNames).toEqual(['kind', 'phase']);
  });

  it('measures request latencies from half a millisecond to ten seconds', () => {
    expect(LATENCY_BUCKETS[0]).toBe(0.0005);
    expect(LATENCY_BUCKETS.at(-1)).toBe(10);
  });
});
