// npm run bench [-- --quick | --smoke] [-- --only cold,warm,scale,footprint,redeploy,native,native-platform] [-- --n 20 --instances 100]
//
// Runs the platform in a child process (Docker backend, memory store, its own state dir) and measures,
// in one run: cold starts (stem / no stem, each on a platform of its own that scales an idle function to
// zero in ~2 s; plain docker run floor), warm overhead (gateway vs the same
// image called directly; and two more platforms on the Redis store, with invocation records on and off,
// bench/warm-records.ts), a 1→50 step scale-up, footprint, and a redeploy's upload → first answer of the
// new version (bench/redeploy.ts), and the native data plane's warm path beside direct, a Node hop and nginx
// (bench/native-path.ts: no platform, no Docker); and issue 20's targets on a platform with the native data plane:
// one instance called through HAProxy as Stratus programs it, nginx, directly and through Stratus's Node path, with
// the per-call accounting checked (bench/native-platform.ts). Prints a table of target vs measured
// and writes bench/results/latest.json. Every container and function it creates is removed, also on
// failure or Ctrl-C. Targets are reported, never asserted. --quick: fewer and shorter samples; --smoke:
// every section at its smallest (CI runs it so the bench cannot rot; its figures mean little), written
// to bench/results/smoke.json. A failed section makes the exit code 1.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { coldFloor, coldViaPlatform } from './cold.js';
import { BENCH_LABEL, sweep } from './docker.js';
import { footprint } from './footprint.js';
import { nativePath } from './native-path.js';
import { nativeOnPlatform } from './native-platform.js';
import { writeCodeDir } from './function-code.js';
import { Platform, prepareRunner, type Runner } from './platform.js';
import { render, verdicts, type Results } from './report.js';
import { redeploy } from './redeploy.js';
import { scaleUp } from './scale.js';
import { warmOverhead } from './warm.js';
import { recordsOnOff, recordsPrefixes } from './warm-records.js';
import { removeRedisKeys } from '../test/support/stratus-process.js';

const SECTIONS = ['cold', 'warm', 'scale', 'footprint', 'redeploy', 'native', 'native-platform'] as const;
type Section = (typeof SECTIONS)[number];
const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = path.join(HERE, 'results');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    n: { type: 'string' },
    instances: { type: 'string' },
    'scale-per-instance': { type: 'string' },
    'scale-max': { type: 'string' },
    'redeploy-stems': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`usage: npm run bench -- [--quick | --smoke] [--only ${SECTIONS.join(',')}] [--n COLD_SAMPLES] [--instances N] [--scale-per-instance C] [--scale-max M] [--redeploy-stems S]`);
  process.exit(0);
}
const only = new Set((args.only ?? SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean));
for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section "${s}"; choose from ${SECTIONS.join(', ')}`);
const want = (s: Section) => only.has(s);
const num = (v: string | undefined, def: number) => (v === undefined ? def : Number(v));

const quick = args.quick;
const smoke = args.smoke;
/** Full run, --quick, --smoke: each figure's sample count or duration, from the longest to the shortest. */
const pick = <T>(full: T, q: T, s: T): T => (smoke ? s : quick ? q : full);
const opts = {
  coldSamples: num(args.n, pick(20, 5, 2)),
  warm: { levels: [1, 8, 32], durationMs: pick(3000, 1000, 300), warmupMs: pick(500, 200, 100) },
  /** The records on/off comparison: slices per side and level, alternating between the sides. */
  records: { rounds: pick(20, 8, 2), sliceMs: pick(400, 300, 150) },
  // The smoke's step needs 2 instances rather than 7: it proves the section runs, not how fast it is.
  scale: { callers: pick(50, 50, 16), perInstance: num(args['scale-per-instance'], 8), maxInstances: num(args['scale-max'], pick(10, 10, 3)), holdMs: 100, stepMs: pick(8000, 5000, 3000) },
  footprintInstances: num(args.instances, pick(100, 10, 3)),
  // Stems per runtime on the redeploy platform: the default pool, or 0 (as Kubernetes, or network 'none') where every start is a container.
  redeploy: { samples: num(args.n, pick(10, 5, 1)), pollMs: 10, stems: num(args['redeploy-stems'], 2) },
  /** The native data plane's sides: alternating rounds per side and level (≈ 20 s in all at full size). */
  native: { rounds: pick(2, 2, 1), roundMs: pick(1500, 1000, 150), warmupMs: pick(300, 200, 50) },
  /** Issue 20's targets on the platform (bench/native-platform.ts): 4 sides × 2 levels per round (≈ 45 s at full size). */
  nativePlatform: { rounds: pick(3, 2, 1), roundMs: pick(1500, 1000, 150), warmupMs: pick(300, 200, 50), batch: pick(200, 100, 10) },
};
const runId = randomBytes(3).toString('hex');
const runtimeImage = process.env.STRATUS_RUNTIME_IMAGE_NODE ?? 'stratus/runtime-node:latest';
const log = (s: string) => process.stderr.write(`${s}\n`);

const results: Results = {
  meta: {
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    startedAt: new Date().toISOString(),
    commit: (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: HERE }).toString().trim();
      } catch {
        return null;
      }
    })(),
    node: process.version,
    cpus: os.cpus().length,
    loadAverageAtStart: os.loadavg(),
    runId,
    options: opts,
  },
  cold: {},
  failures: [],
};

const platforms = new Set<Platform>();
let codeDir: string | null = null;
let cleaned: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    for (const p of platforms) {
      const left = await p.stop().catch(() => 0);
      if (left) log(`cleanup: removed ${left} container(s) platform ${p.label} left behind`);
    }
    const ours = await sweep([`label=${BENCH_LABEL}=${runId}`]);
    if (ours) log(`cleanup: removed ${ours} bench container(s)`);
    if (codeDir) await fs.rm(codeDir, { recursive: true, force: true });
    // The records comparison's platforms ran on Redis: their keys go (stopping them leaves some behind).
    if (want('warm')) {
      const redisUrl = process.env.STRATUS_REDIS_URL ?? 'redis://127.0.0.1:6379';
      for (const prefix of Object.values(recordsPrefixes(runId))) await removeRedisKeys(redisUrl, prefix).catch((err: unknown) => log(`cleanup: Redis keys under ${prefix}: ${(err as Error).message}`));
    }
  })();
  return cleaned;
}
/** Set by a signal: no section starts after it, and the floor's loop stops (cleanup would miss what they start). */
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) return; // npm and tsx both pass a signal on: the second is the same request
    interrupted = true;
    log(`${sig}: cleaning up`);
    // A last sweep a moment later: a `docker run` already under way when the signal came lands after the first.
    void cleanup().then(() => new Promise((r) => setTimeout(r, 1000))).then(() => sweep([`label=${BENCH_LABEL}=${runId}`])).finally(() => process.exit(130));
  });
}


/** The platform's default stem pool per runtime (core/config.ts STRATUS_STEM_POOL_SIZE). */
const STEM_POOL = 2;
async function section<T>(name: string, run: () => Promise<T>): Promise<T | undefined> {
  const t0 = Date.now();
  log(`▶ ${name}`);
  try {
    if (interrupted) throw new Error('interrupted');
    const r = await run();
    log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  } catch (err) {
    const error = (err as Error).stack ?? String(err);
    results.failures.push({ section: name, error: (err as Error).message });
    log(`  FAILED: ${error}`);
    return undefined;
  }
}

let runner: Promise<Runner> | null = null;
async function launch(label: string, settings: Record<string, string>): Promise<Platform> {
  runner ??= prepareRunner(log).then((r) => {
    results.meta.platformRunner = r.kind === 'node' ? 'node (transpiled by scripts/build-dist.mjs)' : `tsx (${r.why}; gateway RSS includes ~30 MiB of tsx)`;
    return r;
  });
  const p = await Platform.launch(label, settings, RESULTS_DIR, await runner);
  platforms.add(p);
  ((results.meta.dataPlanes ??= {}) as Record<string, string>)[label] = p.dataPlane;
  return p;
}

async function stopPlatform(p: Platform, fn: string): Promise<void> {
  await p.remove(fn); // DELETE also purges the version images from the registry
  await p.stop();
  platforms.delete(p);
}

/**
 * The cold platforms scale an idle function to zero within ~2 s (the idle TTL is 1 s, see cold.ts)
 * instead of after the 60 s stable window, so that samples can follow each other. The windows only
 * decide when instances go; the cold path a call to an empty pool takes is the same. The platform that
 * measures scale-up keeps the default windows.
 */
const FAST_SCALE_TO_ZERO = { STRATUS_STABLE_WINDOW_MS: '1000', STRATUS_PANIC_WINDOW_MS: '1000' };

/** A platform with one deployed function for a cold-start section; stopped and removed afterwards. */
async function coldSection(kind: 'stem' | 'container', stemCode: 'link' | 'http' = 'link'): Promise<void> {
  const pool = kind === 'stem' ? STEM_POOL : 0;
  const http = kind === 'stem' && stemCode === 'http';
  await section(`platform ${kind === 'stem' ? 'with' : 'without'} stems (pool size ${pool}${http ? ', code over HTTP' : ''}), scaling to zero in ~2 s`, async () => {
    const fn = `bench-${runId}-${kind === 'stem' ? (http ? 'coldhttp' : 'cold') : 'nostem'}`;
    const p = await launch(kind === 'stem' ? (http ? 'cold-stems-http' : 'cold-stems') : 'nostems', { STRATUS_STEM_POOL_SIZE: String(pool), STRATUS_STEM_CODE: stemCode, ...FAST_SCALE_TO_ZERO });
    try {
      await p.deploy(fn, { concurrency: 8, maxInstances: 1, idleTtlMs: 600_000 });
      const title = kind === 'stem' ? `cold start with a stem${http ? ', code over HTTP' : ''}` : 'cold start without a stem';
      results.cold[http ? 'stemHttp' : kind] = await section(title, () => coldViaPlatform(p, fn, kind, opts.coldSamples, log, Math.max(1, pool)));
    } finally {
      await stopPlatform(p, fn);
    }
  });
}

async function main(): Promise<void> {
  await fs.mkdir(RESULTS_DIR, { recursive: true });
  const t0 = Date.now();
  if (want('cold')) {
    await coldSection('stem');
    await coldSection('stem', 'http');
    await coldSection('container');
    results.cold.floor = await section('cold start floor: plain docker run', async () => {
      codeDir = await writeCodeDir();
      return coldFloor(runId, runtimeImage, codeDir, opts.coldSamples, log, () => interrupted);
    });
  }
  if (want('warm') || want('scale') || want('footprint')) {
    await section(`platform with stems (pool size ${STEM_POOL})`, async () => {
      const fn = `bench-${runId}`;
      // A long start timeout: the footprint section starts 100 containers at once on a small machine.
      const p = await launch('stems', { STRATUS_STEM_POOL_SIZE: String(STEM_POOL), STRATUS_INSTANCE_START_TIMEOUT_MS: '120000' });
      try {
        const { image } = await p.deploy(fn, { concurrency: 8, maxInstances: 1, idleTtlMs: 600_000 });
        log(`  ${p.url} (pid ${p.pid}), function ${fn}, image ${image}`);
        if (want('warm')) {
          results.warm = await section('warm overhead', async () => {
            if (!image) throw new Error('the build reported no image; the direct floor needs the version image');
            return warmOverhead(p, fn, image, runId, opts.warm, log);
          });
          results.warmRecords = await section('warm path with invocation records on and off (Redis store)', async () => {
            if (!image) throw new Error('the build reported no image; both sides run the version image');
            return recordsOnOff({ launch, stop: stopPlatform }, `${fn}-rec`, image, runId, { levels: opts.warm.levels, warmupMs: opts.warm.warmupMs, ...opts.records }, log);
          });
        }
        if (want('scale')) results.scale = await section('scale-up', () => scaleUp(p, fn, opts.scale, log));
        if (want('footprint')) results.footprint = await section('footprint', () => footprint(p, fn, opts.footprintInstances, log));
      } finally {
        await stopPlatform(p, fn);
      }
    });
  }
  if (want('redeploy')) {
    const stems = opts.redeploy.stems;
    await section(`platform with stem pool size ${stems} for redeploys`, async () => {
      const fn = `bench-${runId}-redeploy`;
      const p = await launch('redeploy', { STRATUS_STEM_POOL_SIZE: String(stems) });
      try {
        results.redeploy = await section('redeploy: upload → first answer of the new version', () => redeploy(p, fn, opts.redeploy, stems, log));
      } finally {
        await stopPlatform(p, fn);
      }
    });
  }
  if (want('native-platform')) {
    await section('platform with the native data plane (STRATUS_DATA_PLANE=native)', async () => {
      const fn = `bench-${runId}-native`;
      // No stems: the instance is a container of its own, whose socket is at its own id's path (and two idle stems would only add noise).
      const p = await launch('native', { STRATUS_DATA_PLANE: 'native', STRATUS_STEM_POOL_SIZE: '0' });
      try {
        // One instance serves every side: maxInstances 1, and a concurrency above c=32 so no call falls back to the activator.
        await p.deploy(fn, { concurrency: 64, minInstances: 1, maxInstances: 1, idleTtlMs: 600_000 });
        log(`  ${p.url} (pid ${p.pid}, data plane ${p.dataPlane}), function ${fn}`);
        results.nativePlatform = await section('warm path on the platform: native (HAProxy), nginx, direct, Node (activator socket); accounting', () => nativeOnPlatform(p, fn, opts.nativePlatform, log));
      } finally {
        await stopPlatform(p, fn);
      }
    });
  }
  if (want('native')) results.native = await section('native data plane: direct, HAProxy, a Node hop, nginx (one runtime on a unix socket, no Docker)', () => nativePath(opts.native, log));
  results.meta.durationS = Math.round((Date.now() - t0) / 1000);
}

try {
  await main();
} finally {
  await cleanup();
}
results.verdicts = verdicts(results);
const out = path.join(RESULTS_DIR, smoke ? 'smoke.json' : 'latest.json');
await fs.writeFile(out, JSON.stringify(results, (_k, v: unknown) => (v instanceof Float64Array ? Array.from(v) : v), 2) + '\n');
console.log(`\nStratus bench — ${results.meta.command} — commit ${String(results.meta.commit)}, ${os.cpus().length} CPUs, ${String(results.meta.durationS)} s\n`);
console.log(render(results));
console.log(`\nwritten: ${path.relative(process.cwd(), out)}`);
process.exit(results.failures.length > 0 ? 1 : 0);
