// What the runtime's concurrency gate costs on the warm path (runtime-images/node/runtime.mjs holds a
// function's concurrency per instance, since several replicas call one instance). Runs the Node runtime of
// this tree and the one of a base revision (default: fc75d04, the commit before the gate) side by side, each a host
// process on a unix socket with the same trivial function, and loads them in alternating rounds at c=1 and
// c=32: medians of the rounds, and their ratio. `npx tsx bench/runtime-gate.ts [--base REV] [--rounds N]`.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runLoad } from './http-load.js';
import { sleep, summarize } from './stats.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { base: { type: 'string', default: 'fc75d04' }, rounds: { type: 'string', default: '4' }, 'round-ms': { type: 'string', default: '3000' } } });
const rounds = Number(values.rounds);
const roundMs = Number(values['round-ms']);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-gate-'));
const baseDir = path.join(tmp, 'base');
fs.mkdirSync(baseDir);
// The base revision's runtime files, as they were: git archive of the one directory.
execFileSync('bash', ['-c', `git -C "${ROOT}" archive "${values.base}" runtime-images/node | tar -x -C "${baseDir}"`]);

const code = path.join(ROOT, 'test/fixtures/functions/node-hello');
const runtimes = { gate: path.join(ROOT, 'runtime-images/node/runtime.mjs'), base: path.join(baseDir, 'runtime-images/node/runtime.mjs') };
const children = Object.entries(runtimes).map(([name, script]) => {
  const socketPath = path.join(tmp, `${name}.sock`);
  const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? '', STRATUS_SOCKET: socketPath, STRATUS_CODE_DIR: code, STRATUS_CONCURRENCY: '64' }, stdio: ['ignore', 'ignore', 'inherit'] });
  return { name, socketPath, child };
});

try {
  for (const c of children) {
    for (let i = 0; i < 200 && !fs.existsSync(c.socketPath); i++) await sleep(25);
  }
  const table: string[] = ['| callers | runtime | p50 (median of rounds) | req/s (median) |', '|---|---|---|---|'];
  for (const concurrency of [1, 32]) {
    const seen: Record<string, { p50: number[]; rps: number[] }> = { gate: { p50: [], rps: [] }, base: { p50: [], rps: [] } };
    for (let r = 0; r < rounds; r++) {
      for (const c of r % 2 === 0 ? children : [...children].reverse()) {
        const res = await runLoad({ address: { socketPath: c.socketPath }, path: '/' }, { concurrency, durationMs: roundMs, maxRequests: 2_000_000 });
        if (res.errors > 0) throw new Error(`${c.name}: ${res.errors} errors ${JSON.stringify(res.errorStatuses)}`);
        seen[c.name]!.p50.push(summarize(res.latenciesMs).p50);
        seen[c.name]!.rps.push(res.rps);
      }
    }
    const med = (xs: number[]) => summarize(xs).p50;
    for (const name of ['base', 'gate']) table.push(`| ${concurrency} | ${name === 'gate' ? 'with the gate' : `base (${values.base})`} | ${med(seen[name]!.p50).toFixed(3)} ms | ${Math.round(med(seen[name]!.rps))} |`);
    table.push(`| ${concurrency} | gate/base | ${(med(seen.gate!.p50) / med(seen.base!.p50)).toFixed(3)}× | ${(med(seen.gate!.rps) / med(seen.base!.rps)).toFixed(3)}× |`);
  }
  console.log(table.join('\n'));
} finally {
  for (const c of children) c.child.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
}
