// The printed table: each figure with its target (docs/benchmarks.md, Figures), what was measured,
// measured ÷ target, and whether the target was met. Targets are reported, never asserted: a missed
// target is a line in the table, not a failed run.

import type { ColdResult } from './cold.js';
import type { FootprintResult } from './footprint.js';
import type { NativePathResult } from './native-path.js';
import type { NativePlatformResult } from './native-platform.js';
import type { RedeployResult } from './redeploy.js';
import type { ScaleResult } from './scale.js';
import { mib, ms, ratio } from './stats.js';
import type { WarmLevel } from './warm.js';
import type { RecordsLevel, RecordsResult } from './warm-records.js';

export interface Results {
  meta: Record<string, unknown>;
  /** stemHttp: stems that fetch their code over a signed URL (STRATUS_STEM_CODE=http) instead of hard links. */
  cold: { stem?: ColdResult; stemHttp?: ColdResult; container?: ColdResult; floor?: ColdResult };
  warm?: WarmLevel[];
  warmRecords?: RecordsResult;
  scale?: ScaleResult;
  footprint?: FootprintResult;
  redeploy?: RedeployResult;
  native?: NativePathResult;
  nativePlatform?: NativePlatformResult;
  failures: Array<{ section: string; error: string }>;
  verdicts?: Verdict[];
}

export interface Verdict {
  figure: string;
  target: string;
  measured: string;
  /** measured ÷ target (for "at least" targets, ≥ 1 is met; for "at most", ≤ 1 is met). */
  ratio: number | null;
  met: boolean | null;
}

export const TARGETS = { stemP50Ms: 25, noStemP50Ms: 400, warmAddedP50Ms: 0.5, warmRpsRatioC32: 0.7, scaleUpMs: 3000, nativeRpsVsNginxC32: 0.9, nativeAddedP50VsNginxMs: 0.1 } as const;

const atMost = (figure: string, target: string, measured: string, value: number | null, limit: number): Verdict => {
  const r = value === null || !Number.isFinite(value) ? null : value / limit;
  return { figure, target, measured, ratio: r, met: r === null ? null : r <= 1 };
};

export function verdicts(r: Results): Verdict[] {
  const out: Verdict[] = [];
  const cold = (c: ColdResult) => `p50 ${ms(c.summary.p50)} · p99 ${ms(c.summary.p99)} (n=${c.summary.n}${c.errors ? `, ${c.errors} errors` : ''}; ${Object.entries(c.startKinds).map(([k, v]) => `${v} ${k}`).join(', ') || '–'})`;
  if (r.cold.stem) out.push(atMost('cold start, stem ready', `p50 ≤ ${TARGETS.stemP50Ms} ms`, cold(r.cold.stem), r.cold.stem.summary.p50, TARGETS.stemP50Ms));
  if (r.cold.stemHttp) out.push(atMost('cold start, stem ready, code over HTTP', `p50 ≤ ${TARGETS.stemP50Ms} ms`, cold(r.cold.stemHttp), r.cold.stemHttp.summary.p50, TARGETS.stemP50Ms));
  if (r.cold.container) out.push(atMost('cold start, no stem', `p50 ≤ ${TARGETS.noStemP50Ms} ms`, cold(r.cold.container), r.cold.container.summary.p50, TARGETS.noStemP50Ms));
  if (r.cold.floor) {
    const f = r.cold.floor;
    out.push({ figure: 'cold start floor: docker run', target: 'floor', measured: `${cold(f).replace(/; –\)$/, ')')}; docker run -d returns at p50 ${ms(f.dockerRunCommand?.p50)}`, ratio: null, met: null });
  }
  for (const w of r.warm ?? []) {
    const line = `+${ms(w.addedP50Ms)} (gateway ${ms(w.gateway.latency.p50)} vs direct ${ms(w.direct.latency.p50)})`;
    if (w.concurrency === 1) out.push(atMost(`warm overhead p50, c=${w.concurrency}`, `≤ +${TARGETS.warmAddedP50Ms} ms`, line, w.addedP50Ms, TARGETS.warmAddedP50Ms));
    else out.push({ figure: `warm overhead p50, c=${w.concurrency}`, target: '(c=1 is the target)', measured: line, ratio: null, met: null });
  }
  for (const w of r.warmRecords?.levels ?? []) {
    out.push({
      figure: `warm p50 with records ÷ without, c=${w.concurrency}`, target: 'report (≈ 1×: no Redis round trip per call)',
      measured: `${ratio(w.p50Ratio)} (${ms(w.on.latency.p50)} vs ${ms(w.off.latency.p50)}); req/s ${ratio(w.rpsRatio)}`, ratio: null, met: null,
    });
  }
  const c32 = r.warm?.find((w) => w.concurrency === 32) ?? r.warm?.at(-1);
  if (c32) {
    const rr = c32.rpsRatio / TARGETS.warmRpsRatioC32;
    out.push({
      figure: `warm throughput, c=${c32.concurrency}`, target: `≥ ${TARGETS.warmRpsRatioC32}× direct`,
      measured: `${ratio(c32.rpsRatio)} direct (${Math.round(c32.gateway.rps)}/s vs ${Math.round(c32.direct.rps)}/s)`,
      ratio: Number.isFinite(rr) ? rr : null, met: Number.isFinite(rr) ? rr >= 1 : null,
    });
  }
  if (r.scale) {
    const s = r.scale;
    const t = s.timeToEnoughMs;
    const v = atMost(
      `scale-up 1→${s.callers} callers`, `≤ ${TARGETS.scaleUpMs / 1000} s, 0 errors`,
      `${t === null ? `not within the ${s.stepMs / 1000} s step` : `${(t / 1000).toFixed(2)} s`} to ${s.neededInstances} instances (c=${s.perInstance}/instance), ${s.errors} errors of ${s.requests}`,
      t, TARGETS.scaleUpMs,
    );
    if (t === null) v.met = false;
    if (s.errors > 0) v.met = false;
    out.push(v);
  }
  if (r.footprint) {
    const f = r.footprint;
    out.push({ figure: 'gateway RSS', target: 'report', measured: `idle ${mib(f.gatewayRssIdleBytes)}; with ${f.instancesReady} warm instances ${mib(f.gatewayRssWithInstancesBytes)}`, ratio: null, met: null });
    out.push({ figure: 'memory per warm instance', target: 'report', measured: `p50 ${mib(f.instanceUsage.p50)} · max ${mib(f.instanceUsage.max)} (rss p50 ${mib(f.instanceRss.p50)}; ${f.instancesMeasured} of ${f.instancesWanted} measured)`, ratio: null, met: null });
  }
  if (r.nativePlatform) out.push(...nativePlatformVerdicts(r.nativePlatform));
  if (r.redeploy) {
    const d = r.redeploy;
    out.push({
      figure: `redeploy: upload → first answer of the new version (${d.stems} stems)`, target: 'report',
      measured: `p50 ${ms(d.summary.p50)} · min ${ms(d.summary.min)} · max ${ms(d.summary.max)} (n=${d.summary.n}${d.errors ? `, ${d.errors} errors` : ''}); of which the load phase p50 ${ms(d.loadPhase.p50)}, after the build p50 ${ms(d.afterBuild.p50)}`, ratio: null, met: null,
    });
    out.push({ figure: 'starts of the new version\'s code per redeploy', target: '1 (load check = rollout\'s instance)', measured: `median ${d.codeStartsMedian} (per redeploy: ${d.samples.map((x) => x.codeStarts).join(', ') || '–'})`, ratio: null, met: d.samples.length ? d.codeStartsMedian <= 1 : null });
  }
  return out;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(headers), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

export function render(r: Results): string {
  const v = r.verdicts ?? verdicts(r);
  const parts: string[] = [];
  // --only native has no figure with a target: no empty table.
  if (v.length) parts.push(table(['figure', 'target', 'measured', 'measured/target', 'verdict'], v.map((x) => [x.figure, x.target, x.measured, ratio(x.ratio), x.met === null ? '' : x.met ? 'met' : 'MISSED'])));
  if (r.warm?.length) {
    parts.push('warm overhead (same image; direct = --network host on 127.0.0.1; bare proxy = bench/bare-proxy.mjs in front of direct, the cost of any Node hop):');
    const cells = (x: WarmLevel['direct']) => [ms(x.latency.p50), ms(x.latency.p99), String(Math.round(x.rps))];
    parts.push(table(
      ['callers', 'direct p50', 'p99', 'req/s', 'bare proxy p50', 'p99', 'req/s', 'gateway p50', 'p99', 'req/s', 'gateway added p50', 'gateway/direct req/s', 'bare/direct req/s', 'errors g/b/d'],
      r.warm.map((w) => [
        String(w.concurrency), ...cells(w.direct), ...cells(w.bareProxy), ...cells(w.gateway),
        `+${ms(w.addedP50Ms)}`, ratio(w.rpsRatio), ratio(w.bareProxy.rps / w.direct.rps), `${w.gateway.errors}/${w.bareProxy.errors}/${w.direct.errors}`,
      ]),
    ));
  }
  if (r.warmRecords?.levels.length) {
    const wr = r.warmRecords;
    parts.push(`warm path with invocation records on and off (Redis store, ${wr.rounds} alternating slices per side and level, pooled; records stored: on ${wr.recordsStored.on >= 1000 ? '≥ 1000' : wr.recordsStored.on}, off ${wr.recordsStored.off}):`);
    const cells = (x: RecordsLevel['on']) => [ms(x.latency.p50), ms(x.latency.p99), String(Math.round(x.rps))];
    parts.push(table(
      ['callers', 'records off p50', 'p99', 'req/s', 'records on p50', 'p99', 'req/s', 'on/off p50', 'on/off req/s', 'errors on/off'],
      wr.levels.map((w) => [String(w.concurrency), ...cells(w.off), ...cells(w.on), ratio(w.p50Ratio), ratio(w.rpsRatio), `${w.on.errors}/${w.off.errors}`]),
    ));
  }
  const phases = [r.cold.stem, r.cold.stemHttp, r.cold.container].filter((c): c is ColdResult => c !== undefined && Object.keys(c.phasesMeanMs).length > 0);
  if (phases.length) {
    parts.push([
      'cold-start phases (mean, from the platform\'s stratus_cold_start_phase_seconds):',
      ...phases.map((c) => `  ${c.kind}: ${Object.entries(c.phasesMeanMs).map(([k, x]) => `${k} ${ms(x)}`).join(', ')}`),
    ].join('\n'));
  }
  if (r.redeploy?.samples.length) {
    parts.push([
      'redeploys (upload → first answer; starts of the new code: Docker containers with the function\'s label + stem specializations):',
      ...r.redeploy.samples.map((x, i) => `  ${i + 1}: ${ms(x.ms)}; ${x.codeStarts} start(s): ${x.containerStarts} container(s), scheduler cold starts ${Object.entries(x.coldStarts).map(([k, n]) => `${k} ${n}`).join(', ')}; build ${Object.entries(x.phases).map(([k, n]) => `${k} ${ms(n)}`).join(', ')}`),
    ].join('\n'));
  }
  if (r.scale) parts.push(`scale-up ready instances over time (ms: ready): ${r.scale.readyTimeline.map(([t, n]) => `${t}:${n}`).join(' ')}`);
  if (r.nativePlatform) parts.push(renderNativePlatform(r.nativePlatform));
  if (r.native) parts.push(renderNativePath(r.native));
  for (const f of r.failures) parts.push(`section ${f.section} FAILED: ${f.error}`);
  return parts.join('\n\n');
}

/** A difference in ms with its sign: a side faster than direct in a noisy round reads -0.1 ms, not +-0.1 ms. */
const signed = (d: number): string => (d >= 0 ? `+${ms(d)}` : `-${ms(-d)}`);

/** The native section's table: each side, and HAProxy's and nginx's ratios to direct and to each other. */
function renderNativePath(r: NativePathResult): string {
  const d = r.sides.direct!;
  const rows = Object.entries(r.sides).map(([n, s]) => [n, ms(s.c1P50Ms), signed(s.c1P50Ms - d.c1P50Ms), String(Math.round(s.c32Rps)), ratio(s.c32Rps / d.c32Rps), String(s.errors)]);
  const h = r.sides.haproxy;
  const nx = r.sides.nginx;
  const vsNginx = h && nx ? `; haproxy vs nginx: c=32 ${ratio(h.c32Rps / nx.c32Rps)} req/s, c=1 p50 ${signed(h.c1P50Ms - nx.c1P50Ms)}` : '';
  const cl = r.callLines;
  return [
    `native data plane, warm path to one Node runtime on a unix socket (medians of ${r.rounds} alternating rounds of ${r.roundMs} ms; HAProxy routes by map to the last of ${r.slots} slots and logs every call)${vsNginx}:`,
    table(['path', 'c=1 p50', 'added p50', 'c=32 req/s', '/direct', 'errors'], rows),
    `  HAProxy per-call lines: ${cl.lines} read for ${cl.calls} calls it counted, ${cl.dropped} lost, ${cl.toActivator} sent to the activator; receive buffer ${Math.round(cl.receiveBufferBytes / 1024)} KiB`,
    ...r.missing.map((m) => `  not measured: ${m}`),
  ].join('\n');
}

/** Issue 20's targets, from the platform section: the native path against nginx in front of the same instance. */
function nativePlatformVerdicts(r: NativePlatformResult): Verdict[] {
  const out: Verdict[] = [];
  const { native: n, nginx: nx, node } = r.sides;
  if (n && nx) {
    const rr = n.c32Rps / nx.c32Rps;
    out.push({
      figure: 'native warm throughput, c=32', target: `≥ ${TARGETS.nativeRpsVsNginxC32}× nginx`,
      measured: `${ratio(rr)} nginx (${Math.round(n.c32Rps)}/s vs ${Math.round(nx.c32Rps)}/s)`,
      ratio: Number.isFinite(rr) ? rr / TARGETS.nativeRpsVsNginxC32 : null, met: Number.isFinite(rr) ? rr >= TARGETS.nativeRpsVsNginxC32 : null,
    });
    const added = n.c1P50Ms - nx.c1P50Ms;
    out.push(atMost('native warm p50, c=1', `≤ nginx + ${TARGETS.nativeAddedP50VsNginxMs} ms`, `${signed(added)} (${ms(n.c1P50Ms)} vs nginx ${ms(nx.c1P50Ms)})`, Math.max(added, 0), TARGETS.nativeAddedP50VsNginxMs));
  }
  if (node && nx) {
    out.push({ figure: 'Node path (activator socket) vs nginx', target: 'report', measured: `c=32 ${ratio(node.c32Rps / nx.c32Rps)} nginx (${Math.round(node.c32Rps)}/s); c=1 p50 ${signed(node.c1P50Ms - nx.c1P50Ms)} (${ms(node.c1P50Ms)})`, ratio: null, met: null });
  }
  const a = r.accounting;
  out.push({
    figure: 'per-call records = requests served', target: '0 lost',
    measured: `${a.nativeCalls} via HAProxy + ${a.nodeCalls} via the activator socket, ${a.records} metered: ${a.lost} lost`,
    ratio: null, met: a.lost === 0,
  });
  for (const b of r.metering) {
    out.push({
      figure: `usage = Σ billedMs × memory, ${b.path} path`, target: 'exactly, every call recorded',
      measured: `${b.calls} calls, ${b.withRecord} records by id, usage +${b.usageRequests} requests; ${b.usageMbMs} MB·ms vs Σ ${b.recordsMbMs}`,
      ratio: null, met: b.usageMbMs === b.recordsMbMs && b.withRecord === b.calls && b.usageRequests === b.calls,
    });
  }
  return out;
}

/** The platform section's table: each side with what it is, and the ratios to nginx and direct. */
function renderNativePlatform(r: NativePlatformResult): string {
  const d = r.sides.direct!;
  const nx = r.sides.nginx;
  const rows = Object.entries(r.sides).map(([n, s]) => [
    n, ms(s.c1P50Ms), signed(s.c1P50Ms - d.c1P50Ms), nx ? signed(s.c1P50Ms - nx.c1P50Ms) : '–', String(Math.round(s.c32Rps)), ratio(s.c32Rps / d.c32Rps), nx ? ratio(s.c32Rps / nx.c32Rps) : '–', String(s.errors),
  ]);
  const a = r.accounting;
  const parts = ['client', 'stratus', 'haproxy', 'nginx', 'instance'] as const;
  const cpu = Object.entries(r.sides).map(([n, s]) => [n, ...parts.map((k) => { const v = s.cpuUsPerCallC32?.[k]; return v === null || v === undefined ? '–' : String(Math.round(v)); })]);
  return [
    `warm path on the platform (STRATUS_DATA_PLANE=native), one instance ${r.instance.id} (${r.instance.slot}, ${r.instance.socketPath}); medians of ${r.rounds} alternating rounds of ${r.roundMs} ms:`,
    table(['path', 'c=1 p50', 'vs direct', 'vs nginx', 'c=32 req/s', '/direct', '/nginx', 'errors'], rows),
    ...Object.entries(r.what).map(([n, w]) => `  ${n}: ${w}`),
    'CPU per call over the c=32 rounds, µs, by process (client = the bench\'s load loop; instance = the container\'s cgroup):',
    table(['path', ...parts], cpu),
    `  accounting over the rounds: HAProxy counted ${a.nativeCalls} calls (${a.servedBySlot} served by ${r.instance.slot}, ${a.toActivator} by the activator), ${a.nodeCalls} sent to the activator's socket; ${a.records} metered after ${a.settleMs} ms: ${a.lost} lost`,
    ...r.metering.map((b) => `  metering, ${b.path}: ${b.calls} calls, ${b.withId} with a request id, ${b.withRecord} with a record; usage +${b.usageRequests} requests, +${b.usageMbMs} MB·ms; Σ billedMs × memory (${b.memoryMb.join(', ')} MB) of the records ${b.recordsMbMs}`),
    ...r.missing.map((m) => `  not measured: ${m}`),
  ].join('\n');
}
