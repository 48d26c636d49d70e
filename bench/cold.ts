// Cold start, scale-from-zero to first response. Through the platform: the function is set to scale to
// zero after 1 s idle (the shortest idle TTL), and before each sample the platform has done so — its
// instance reaped by the autoscaler, the container gone and (with stems) the stem pool full again — so
// each sample is the first call to a version with no instance, and samples do not overlap with
// teardown or refill. (A new version per sample no longer works: a rollout warms the new version before
// it serves.) The floor is a plain `docker run` of the runtime image with the code mounted, timed to its
// first answer over a unix socket.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { docker, removeContainer, runArgs } from './docker.js';
import { firstAnswer, get, newAgent } from './http-load.js';
import type { Platform } from './platform.js';
import { sleep, summarize, waitFor, type Summary } from './stats.js';

export interface ColdResult {
  kind: 'stem' | 'container' | 'docker-run';
  summary: Summary;
  samplesMs: number[];
  errors: number;
  /** How the platform actually started each sample's instance (stem / container), from the instances API. */
  startKinds: Record<string, number>;
  /** Mean ms per cold-start phase from the platform's own histogram, over the samples. */
  phasesMeanMs: Record<string, number>;
  /** Floor only: time until the `docker run -d` command returned. */
  dockerRunCommand?: Summary;
}

const PHASES = ['claim', 'init', 'create', 'first_byte'];
/** The shortest idle TTL a function may have (core/function-config.ts): scale to zero 1 s after a call. */
const IDLE_TTL_MS = 1000;

async function phaseTotals(p: Platform, kind: string): Promise<Record<string, { sum: number; count: number }>> {
  const out: Record<string, { sum: number; count: number }> = {};
  for (const phase of PHASES) {
    const labels = { kind, phase };
    out[phase] = { sum: await p.metric('stratus_cold_start_phase_seconds_sum', labels), count: await p.metric('stratus_cold_start_phase_seconds_count', labels) };
  }
  return out;
}

/** Wait until no container of the given instances exists any more (teardown finished). */
async function containersGone(ids: string[]): Promise<void> {
  for (const id of ids) {
    await waitFor(`container of ${id} to be removed`, async () => ((await docker(['ps', '-aq', '--filter', `name=^stratus-${id}$`])) === '' ? true : undefined), 60_000, 50);
  }
}

/**
 * `stemPool`: how many stems the platform keeps; before each stem sample the pool must be full again, so
 * that a refill's `docker run` (CPU-heavy on 2 cores) does not run beside the cold start being measured.
 */
export async function coldViaPlatform(p: Platform, name: string, kind: 'stem' | 'container', n: number, log: (s: string) => void, stemPool = 1): Promise<ColdResult> {
  const agent = newAgent(1); // keep-alive to the gateway: the caller's own TCP connect is not the cold start
  const samples: number[] = [];
  const startKinds: Record<string, number> = {};
  let errors = 0;
  let before: Awaited<ReturnType<typeof phaseTotals>> | null = null;
  // One version for every sample, scaling to zero between them (its rollout warms an instance first).
  const { version } = await p.patch(name, { minInstances: 0, maxInstances: 1, idleTtlMs: IDLE_TTL_MS });
  // Sample 0 is a warm-up (the first cold path in a fresh gateway) and is not recorded.
  for (let i = 0; i <= n; i++) {
    const running = (await p.instances(name)).map((x) => x.id);
    await waitFor('the function to scale to zero', async () => ((await p.instances(name)).length === 0 ? true : undefined), 60_000, 50);
    await containersGone(running);
    if (kind === 'stem') await waitFor('a full stem pool', async () => ((await p.metric('stratus_stems_ready', { runtime: 'node' })) >= stemPool ? true : undefined), 60_000);
    await sleep(100); // let the refill's last health polls and docker's bookkeeping settle
    if (i === 1) before = await phaseTotals(p, kind);
    const a = await get(agent, { address: p.address, path: `/fn/${name}/` });
    const started = (await p.instances(name)).find((x) => x.version === version);
    if (i === 0) continue;
    if (a.status === 200) samples.push(a.ms);
    else {
      errors++;
      log(`  cold ${kind} sample ${i}: ${a.status} ${a.body.slice(0, 200)}`);
    }
    startKinds[started?.startKind ?? 'unknown'] = (startKinds[started?.startKind ?? 'unknown'] ?? 0) + 1;
  }
  agent.destroy();
  const after = await phaseTotals(p, kind);
  const phasesMeanMs: Record<string, number> = {};
  for (const phase of PHASES) {
    const d = { sum: after[phase]!.sum - (before?.[phase]?.sum ?? 0), count: after[phase]!.count - (before?.[phase]?.count ?? 0) };
    if (d.count > 0) phasesMeanMs[phase] = (d.sum / d.count) * 1000;
  }
  return { kind, summary: summarize(samples), samplesMs: samples, errors, startKinds, phasesMeanMs };
}

/** The floor: `docker run -d` of the runtime image with the code mounted, to its first 2xx answer. */
export async function coldFloor(runId: string, image: string, codeDir: string, n: number, log: (s: string) => void, stopped = () => false): Promise<ColdResult> {
  const samples: number[] = [];
  const commandMs: number[] = [];
  let errors = 0;
  for (let i = 0; i <= n; i++) {
    if (stopped()) throw new Error('interrupted');
    const sockDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-bench-sock-'));
    await fs.chmod(sockDir, 0o777); // the runtime runs as uid 10001 and creates its socket here
    const name = `stratus-bench-${runId}-floor-${i}`;
    const args = runArgs({
      runId, name, image, memoryMb: 256,
      mounts: [[codeDir, '/app'], [sockDir, '/run/stratus/sock:rw']],
      env: { STRATUS_SOCKET: '/run/stratus/sock/runtime.sock' },
    });
    try {
      const t0 = performance.now();
      const giveUp = new AbortController(); // a failed `docker run` must stop the polling at once
      const cli = docker(args).then(() => performance.now() - t0, (err: unknown) => {
        giveUp.abort(err);
        throw err;
      });
      const answer = firstAnswer({ address: { socketPath: path.join(sockDir, 'runtime.sock') }, path: '/' }, 30_000, 2, giveUp.signal).then(() => performance.now() - t0);
      const [cmd, first] = await Promise.all([cli, answer]);
      if (i > 0) {
        samples.push(first);
        commandMs.push(cmd);
      }
    } catch (err) {
      errors++;
      log(`  floor sample ${i}: ${(err as Error).message}`);
    } finally {
      await removeContainer(name);
      await fs.rm(sockDir, { recursive: true, force: true });
    }
    await sleep(100);
  }
  return { kind: 'docker-run', summary: summarize(samples), samplesMs: samples, errors, startKinds: {}, phasesMeanMs: {}, dockerRunCommand: summarize(commandMs) };
}
