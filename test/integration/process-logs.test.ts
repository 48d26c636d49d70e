// The process backend as a log source: a child's stdout/stderr lines, a stem's unattributed until it is
// specialized, and a crash's last words without a trailing newline. Needs only node.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceLogLine, InstanceSpec } from '../../scheduler/backends/backend.js';
import { ProcessBackend } from '../../scheduler/backends/process.js';
import { callEndpoint } from '../support/endpoint-call.js';
import { until } from '../support/until.js';

let n = 0;


describe('process backend: instance logs', () => {
  let runDir: string;
  let codeDir: string;
  let backend: ProcessBackend;
  const lines: InstanceLogLine[] = [];
  let off: () => void;

  beforeAll(async () => {
    runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-pl-'));
    codeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-pl-code-'));
    await fs.writeFile(path.join(codeDir, 'package.json'), '{}');
    await fs.writeFile(
      path.join(codeDir, 'index.js'),
      'export default async (event) => { if (event.query.crash) { process.stderr.write("dying without newline"); process.exit(4); } console.log(`said ${event.query.say}`); return "ok"; }',
    );
    backend = new ProcessBackend({ runDir, startTimeoutMs: 10_000, stopGraceMs: 2000 });
    off = backend.onLog((l) => lines.push(l));
  });
  afterAll(async () => {
    off();
    await backend.close();
    await fs.rm(runDir, { recursive: true, force: true });
    await fs.rm(codeDir, { recursive: true, force: true });
  });

  const stem = (): InstanceSpec => ({
    instanceId: `pl-${process.pid}-${++n}`, role: 'stem', runtime: 'node', function: null, version: null,
    image: null, artifactDir: null, handler: null, memoryMb: 128, env: {},
  });

  it('reports a stem\'s lines without a function, then the specialized function\'s invocation lines', async () => {
    const h = await backend.start(stem());
    const started = await until('the start line', () => lines.find((l) => l.instanceId === h.instanceId && l.text.startsWith('stratus-runtime: listening')));
    expect(started).toMatchObject({ function: null, version: null, stream: 'stderr' });
    const handle = { ...h, role: 'function' as const, function: 'talker', version: 2 };
    const staged = await backend.stageCode(handle, codeDir);
    const init = await callEndpoint(h.endpoint, { method: 'POST', path: '/init', body: JSON.stringify({ ...staged, handler: 'index.handler', function: 'talker', version: 2, env: {} }) });
    expect(init.status, init.body).toBe(200);
    expect((await callEndpoint(h.endpoint, { path: '/?say=hi', headers: { 'x-stratus-request-id': 'r-hi' } })).status).toBe(200);
    const said = await until('the invocation line', () => lines.find((l) => l.instanceId === h.instanceId && l.text.includes('said hi')));
    expect(said).toMatchObject({ function: 'talker', version: 2, stream: 'stdout' });
    expect(JSON.parse(said.text)).toMatchObject({ rid: 'r-hi', msg: 'said hi' });

    await callEndpoint(h.endpoint, { path: '/?crash=1', headers: { 'x-stratus-request-id': 'r-crash' } }).catch(() => null);
    const last = await until('the crash line', () => lines.find((l) => l.instanceId === h.instanceId && l.text === 'dying without newline'));
    expect(last).toMatchObject({ function: 'talker', stream: 'stderr' });
    await backend.stop(h.instanceId);
  });
});
