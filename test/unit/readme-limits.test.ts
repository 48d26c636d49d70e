// The limits docs/functions.md states for a function (config ranges, request body size) are the ones the code
// enforces: core/function-config.ts LIMITS and the runtimes' default STRATUS_MAX_BODY_BYTES.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../core/function-config.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const readme = readFileSync(path.join(ROOT, 'docs/functions.md'), 'utf8');

/** docs/functions.md's "Function config" table row of a field. */
function row(field: string): string {
  const line = readme.split('\n').find((l) => l.startsWith(`| \`${field}\` |`));
  expect(line, `docs/functions.md has no config row for ${field}`).toBeDefined();
  return line!;
}

describe('the limits docs/functions.md states', () => {
  it.each(['memoryMb', 'timeoutMs', 'concurrency', 'maxInstances', 'idleTtlMs', 'cpus'] as const)('states the range of %s as enforced', (field) => {
    const { min, max } = LIMITS[field];
    expect(row(field)).toContain(`${min}–${max}`);
  });

  it('states the request body limit the runtimes enforce by default', () => {
    const node = readFileSync(path.join(ROOT, 'runtime-images/node/runtime.mjs'), 'utf8');
    const python = readFileSync(path.join(ROOT, 'runtime-images/python/runtime.py'), 'utf8');
    expect(node).toMatch(/STRATUS_MAX_BODY_BYTES \|\| 32 \* 1024 \* 1024/);
    expect(python).toMatch(/STRATUS_MAX_BODY_BYTES"\) or 32 \* 1024 \* 1024/);
    expect(readme).toMatch(/413` for a\s+request body over 32 MiB/);
  });
});
