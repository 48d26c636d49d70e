// npx tsx bench/ids.ts — the cost of one id (core/ids.ts) against node:crypto's randomUUID and uuid's own
// v7, made 1e6 times in a row after a warm-up; the median of 5 rounds in ns per id. A request id is made on
// the warm path of every function URL call: this says what the time-ordered id costs there.

import { randomUUID } from 'node:crypto';
import { v7 } from 'uuid';
import { newRequestId } from '../core/ids.js';

const N = 1e6;
const ROUNDS = 5;

function nsPerId(make: () => string): number {
  for (let i = 0; i < N / 10; i++) make();
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) make();
    rounds.push(Number(process.hrtime.bigint() - t0) / N);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!;
}

const rows: [string, () => string][] = [
  ['node:crypto randomUUID (v4)', randomUUID],
  ['uuid v7, its own random bytes', () => v7()],
  ['core/ids.ts (v7, pooled bytes)', newRequestId],
];
console.log(`Node ${process.version}, ${N} ids per round, median of ${ROUNDS} rounds`);
for (const [name, make] of rows) console.log(`${name.padEnd(32)} ${nsPerId(make).toFixed(0).padStart(6)} ns/id`);
