// The runtimes answer their own errors (a body past the limit, not ready, a handler that threw, a broken
// /init) as problem+json with the platform's codes. They run in containers without Stratus's TypeScript,
// so each keeps its own table: this keeps both tables equal to core/errors.ts, so a caller sees the same
// status and title whether the gateway or the runtime answered.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, type ErrorCode } from '../../core/errors.js';
import { isCI } from '../support/services.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const catalogue = (codes: string[]) => Object.fromEntries(codes.map((c) => [c, ERROR_CATALOGUE[c as ErrorCode] ?? 'not in core/errors.ts']));

describe('the runtimes\' problem tables', () => {
  it('node: every code it answers is in the catalogue, with the same status and title', async () => {
    const mapping = path.join(ROOT, 'runtime-images/node/http-mapping.mjs');
    const { PROBLEMS } = (await import(mapping)) as { PROBLEMS: Record<string, { status: number; title: string }> };
    expect(Object.keys(PROBLEMS).length).toBeGreaterThan(0);
    expect(PROBLEMS).toEqual(catalogue(Object.keys(PROBLEMS)));
  });

  const python = spawnSync('python3', ['--version']).status === 0;
  it.skipIf(!python && !isCI)('python: every code it answers is in the catalogue, with the same status and title', () => {
    const run = spawnSync('python3', ['-c', 'import json, stratus_http; print(json.dumps(stratus_http.PROBLEMS))'], { cwd: path.join(ROOT, 'runtime-images/python'), encoding: 'utf8', env: { PATH: process.env.PATH ?? '', PYTHONDONTWRITEBYTECODE: '1' } });
    expect(run.status, run.stderr).toBe(0);
    const table = JSON.parse(run.stdout) as Record<string, [number, string]>;
    const asObjects = Object.fromEntries(Object.entries(table).map(([code, [status, title]]) => [code, { status, title }]));
    expect(asObjects).toEqual(catalogue(Object.keys(table)));
  });
});
