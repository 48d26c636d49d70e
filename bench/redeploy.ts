// Redeploy: from the upload of a new version to the first answer of that version at the function URL,
// with the previous version deployed and warm. Each sample uploads code that answers with its own tag
// (POST /v1/functions, as `stratus deploy` does) and polls the function URL until the answer carries
// that tag; the old version answers meanwhile. The time covers the whole build (extract, image, push,
// load check) and the rollout.
//
// It also counts how often each redeploy started the new version's code: containers Docker started
// with the function's label (the load check's and any container cold start) plus stem specializations
// (the scheduler's cold-start counter, kind stem, which start no container of the function). Before the
// load check went through the Scheduler that was two per redeploy (the check's instance, stopped again,
// then the rollout's); the claim is one.

import { performance } from 'node:perf_hooks';
import { deployFunction, waitForBuild } from '../test/support/platform-client.js';
import { docker } from './docker.js';
import { get, newAgent } from './http-load.js';
import type { Platform } from './platform.js';
import { sleep, summarize, waitFor, type Summary } from './stats.js';

export interface RedeploySample {
  /** Upload sent → first 200 whose body is the new version's tag. */
  ms: number;
  /** Containers of the function Docker started meanwhile (load check, container cold starts). */
  containerStarts: number;
  /** The scheduler's cold starts meanwhile, by kind (stem, container). */
  coldStarts: Record<string, number>;
  /** Starts of the new version's code: containerStarts + stem specializations. */
  codeStarts: number;
  /** The build's phases in ms (extract, install, image, push, load), as its record tells them: where the time went. */
  phases: Record<string, number>;
}

export interface RedeployResult {
  /** The platform's stem pool per runtime (0: every start is a container). */
  stems: number;
  summary: Summary;
  /** The build's load phase alone (before: start and stop; after: the probe's start). */
  loadPhase: Summary;
  /** What follows the build's phases: queueing, the rollout, the route change and the first answer. */
  afterBuild: Summary;
  samples: RedeploySample[];
  /** Median of codeStarts over the samples. */
  codeStartsMedian: number;
  errors: number;
}

export interface RedeployOptions {
  samples: number;
  /** Between the polls of the function URL while the new version builds. */
  pollMs: number;
}

const FILE = 'index.mjs';
/** The bench function's shape (function-code.ts), answering with the version's tag. */
const sourceAnswering = (tag: string) => `// Stratus benchmark function, redeploy section.
export default async function () {
  return { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(tag)} };
}
`;
/** After the first answer, how long later starts (a late rollout warm-up) are still counted. */
const SETTLE_MS = 1500;
const KINDS = ['stem', 'container'];

async function coldStarts(p: Platform, fn: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const kind of KINDS) out[kind] = await p.metric('stratus_cold_starts_total', { function: fn, kind });
  return out;
}

/** Containers carrying the function's label that Docker started between two times (epoch ms). */
async function containerStarts(fn: string, sinceMs: number, untilMs: number): Promise<number> {
  const out = await docker([
    'events', '--since', (sinceMs / 1000).toFixed(3), '--until', (untilMs / 1000).toFixed(3),
    '--filter', 'type=container', '--filter', 'event=start', '--filter', `label=dev.stratus.function=${fn}`, '--format', '{{.ID}}',
  ]);
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

async function upload(p: Platform, fn: string, tag: string, config: Record<string, unknown>): Promise<string> {
  const res = await deployFunction(p, { name: fn, runtime: 'node', ...config }, { file: FILE, content: sourceAnswering(tag) });
  const body = (await res.json()) as { buildId?: string };
  if (res.status !== 202 || !body.buildId) throw new Error(`upload of ${fn} (${tag}) answered ${res.status}: ${JSON.stringify(body).slice(0, 500)}`);
  return body.buildId;
}

/** `stemPool`: the platform's stems per runtime; each sample starts with the pool full and one instance, as a quiet platform has. */
export async function redeploy(p: Platform, fn: string, opts: RedeployOptions, stemPool: number, log: (s: string) => void): Promise<RedeployResult> {
  const config = { concurrency: 8, maxInstances: 1, idleTtlMs: 600_000 };
  const agent = newAgent(1);
  const call = () => get(agent, { address: p.address, path: `/fn/${fn}/` });
  const samples: RedeploySample[] = [];
  let errors = 0;
  try {
    // Sample 0 deploys the first version (no rollout: a first version serves at once) and is not recorded.
    for (let i = 0; i <= opts.samples; i++) {
      const tag = `v${i}`;
      if (i > 0) {
        // The previous version warm, its predecessor gone, the stems full: the redeploy starts on a quiet platform.
        await waitFor(`v${i - 1} to answer warm`, async () => ((await call()).body === `v${i - 1}` ? true : undefined), 60_000);
        await waitFor('one instance left', async () => ((await p.instances(fn)).length === 1 ? true : undefined), 60_000);
        if (stemPool > 0) await waitFor('a full stem pool', async () => ((await p.metric('stratus_stems_ready', { runtime: 'node' })) >= stemPool ? true : undefined), 60_000);
        await sleep(200);
      }
      const before = await coldStarts(p, fn);
      const sinceMs = Date.now();
      const t0 = performance.now();
      const buildId = await upload(p, fn, tag, config);
      let answered: number | null = null;
      while (answered === null && performance.now() - t0 < 300_000) {
        const a = await call();
        if (a.status === 200 && a.body === tag) answered = performance.now() - t0;
        else await sleep(opts.pollMs);
      }
      const build = await waitForBuild(p, buildId, 300_000);
      if (i === 0) continue;
      if (answered === null || build.status !== 'succeeded') {
        errors++;
        log(`  redeploy ${i}: ${answered === null ? 'no answer of the new version' : `build ${build.status}: ${build.error ?? ''}`}`);
        continue;
      }
      await sleep(SETTLE_MS);
      const after = await coldStarts(p, fn);
      const byKind = Object.fromEntries(KINDS.map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]));
      const started = await containerStarts(fn, sinceMs, Date.now());
      const { timings } = await p.api<{ timings: Record<string, number> }>('GET', `/v1/builds/${buildId}`);
      const sample = { ms: answered, containerStarts: started, coldStarts: byKind, codeStarts: started + (byKind.stem ?? 0), phases: timings };
      samples.push(sample);
      log(`  redeploy ${i}: ${Math.round(answered)} ms to the first answer of ${tag}; ${sample.codeStarts} start(s) of its code (${started} container(s), ${byKind.stem ?? 0} stem(s)); build phases ${JSON.stringify(timings)}`);
    }
  } finally {
    agent.destroy();
  }
  const starts = summarize(samples.map((s) => s.codeStarts));
  const phasesMs = (x: RedeploySample) => Object.values(x.phases).reduce((a, b) => a + b, 0);
  return {
    stems: stemPool,
    summary: summarize(samples.map((x) => x.ms)),
    loadPhase: summarize(samples.map((x) => x.phases.load ?? NaN)),
    afterBuild: summarize(samples.map((x) => x.ms - phasesMs(x))),
    samples,
    codeStartsMedian: starts.p50,
    errors,
  };
}
