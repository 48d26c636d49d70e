// Pure parts of the backends: the socket-path budget and the container shape, checked without Docker.

import { describe, expect, it } from 'vitest';
import type { InstanceSpec } from '../../scheduler/backends/backend.js';
import { createOptions, envFor, identityFromLabels, labelsFor } from '../../scheduler/backends/docker-spec.js';
import { chooseRunDir, MAX_UNIX_SOCKET_PATH, socketPathFor } from '../../scheduler/backends/instance-dir.js';
import { exitOf } from '../../scheduler/backends/process-child.js';

const spec: InstanceSpec = {
  instanceId: 'abc123',
  role: 'function',
  runtime: 'python',
  function: 'thumbs',
  version: 4,
  image: 'reg/thumbs:v4',
  artifactDir: null,
  handler: 'main.handler',
  memoryMb: 128,
  env: { GREETING: 'hi' },
};
const shape = { platformId: 'p1', functionUid: 10001, pidsLimit: 64, cpuShares: 256, tmpfsMb: 32, hostDir: '/run/x/abc123', init: true };

describe('run dir choice', () => {
  it('keeps a short run dir and falls back to a short temp dir when sockets would not fit', () => {
    expect(chooseRunDir('/var/lib/stratus/run')).toBe('/var/lib/stratus/run');
    const long = '/home/someone/' + 'deeply/nested/'.repeat(6) + 'state/run';
    const chosen = chooseRunDir(long);
    expect(chosen).not.toBe(long);
    expect(chooseRunDir(long)).toBe(chosen); // stable across restarts
    expect(Buffer.byteLength(socketPathFor(chosen, 'x'.repeat(48)))).toBeLessThanOrEqual(MAX_UNIX_SOCKET_PATH);
  });
});

describe('container shape', () => {
  it('is hardened and reached through the socket dir in unix mode', () => {
    const o = createOptions(spec, spec.image!, { ...shape, endpointMode: 'unix' });
    expect(o.name).toBe('stratus-abc123');
    expect(o.User).toBe('10001:10001');
    expect(o.HostConfig).toMatchObject({ ReadonlyRootfs: true, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'], PidsLimit: 64, Memory: 128 * 1024 * 1024, MemorySwap: 128 * 1024 * 1024, CpuShares: 256, Init: true, PortBindings: {} });
    expect(o.HostConfig?.Tmpfs?.['/tmp']).toMatch(/nosuid.*size=32m/);
    expect(o.HostConfig?.Binds).toEqual(['/run/x/abc123:/run/stratus:ro', '/run/x/abc123/sock:/run/stratus/sock:rw']);
    expect(o.Env).toEqual(expect.arrayContaining(['GREETING=hi', 'STRATUS_SOCKET=/run/stratus/sock/runtime.sock', 'STRATUS_HANDLER=main.handler', 'STRATUS_FUNCTION_NAME=thumbs', 'STRATUS_FUNCTION_VERSION=4']));
    expect(o.Env).not.toContain('STRATUS_STEM=1');
  });

  it('publishes 8080 on 127.0.0.1 only in tcp mode', () => {
    const o = createOptions({ ...spec, role: 'stem', function: null, version: null }, 'img', { ...shape, endpointMode: 'tcp' });
    expect(o.HostConfig?.PortBindings).toEqual({ '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
    expect(o.HostConfig?.Binds).toEqual(['/run/x/abc123:/run/stratus:ro']);
    expect(envFor({ ...spec, role: 'stem' }, 'tcp')).toEqual(expect.arrayContaining(['PORT=8080', 'STRATUS_STEM=1']));
  });

  it('labels round-trip into an instance identity', () => {
    expect(identityFromLabels(labelsFor(spec, 'p1', 'unix'))).toEqual({ instanceId: 'abc123', role: 'function', runtime: 'python', function: 'thumbs', version: 4 });
    expect(identityFromLabels(labelsFor({ ...spec, role: 'stem', function: null, version: null, runtime: null }, 'p1', 'unix'))).toEqual({ instanceId: 'abc123', role: 'stem', runtime: null, function: null, version: null });
    expect(identityFromLabels({ 'dev.stratus.platform': 'p1' })).toBeNull();
  });
});

describe('process exits', () => {
  it('tells a heap OOM, a kill and a plain exit apart', () => {
    expect(exitOf('i', null, 'SIGABRT', ['FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory'])).toMatchObject({ reason: 'oom', exitCode: 134 });
    expect(exitOf('i', null, 'SIGKILL', [])).toMatchObject({ reason: 'killed', exitCode: 137 });
    expect(exitOf('i', 3, null, ['bye'])).toEqual({ instanceId: 'i', reason: 'exited', exitCode: 3 });
  });
});
