// The pure side of the Kubernetes backend: names, label values, exits read from pod objects, and the
// error sentences built from the client's exceptions. No server.

import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { apiFailure, describeApiFailure } from '../../scheduler/backends/kubernetes-api.js';
import { describePod, identityOf, labelValue, podExit, podManifest, podNameProblem, startProblem } from '../../scheduler/backends/kubernetes-spec.js';
import type { InstanceSpec } from '../../scheduler/backends/backend.js';

const spec: InstanceSpec = {
  instanceId: 'a-very-long-function-name-that-uses-most-of-its-63-characters-1-0123456789ab',
  role: 'function',
  runtime: 'node',
  function: 'a-very-long-function-name-that-uses-most-of-its-63-characters',
  version: 1,
  image: 'img',
  artifactDir: null,
  handler: null,
  memoryMb: 256,
  env: {},
};

describe('kubernetes pod spec', () => {
  it('keeps a long instance id whole in the annotation and a unique, valid label value', () => {
    const pod = podManifest(spec, 'img', { namespace: 'ns', platformId: 'p', functionUid: 10001, tmpfsMb: 32, stopGraceSeconds: 10 });
    const label = pod.metadata!.labels!['dev.stratus.instance']!;
    expect(label.length).toBeLessThanOrEqual(63);
    expect(label).toMatch(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
    expect(labelValue(spec.instanceId + 'x')).not.toBe(label);
    expect(identityOf(pod)).toMatchObject({ instanceId: spec.instanceId, function: spec.function, version: 1 });
    expect(pod.spec!.terminationGracePeriodSeconds).toBe(10);
    expect(pod.spec!.volumes![0]!.emptyDir).toEqual({ medium: 'Memory', sizeLimit: '32Mi' });
  });

  it('refuses instance ids that cannot name a pod', () => {
    expect(podNameProblem('hello-1-abc')).toBeNull();
    expect(podNameProblem('Hello_1')).toMatch(/cannot name a pod/);
  });

  it('reads exits: OOMKilled, exit codes, eviction, and hopeless waiting reasons', () => {
    const terminated = (reason: string, exitCode: number): V1Pod => ({ status: { phase: 'Failed', containerStatuses: [{ name: 'function', image: '', imageID: '', ready: false, restartCount: 0, state: { terminated: { reason, exitCode } } }] } });
    expect(podExit(terminated('OOMKilled', 137), 'i')).toEqual({ instanceId: 'i', reason: 'oom', exitCode: 137 });
    expect(podExit(terminated('Error', 1), 'i')).toEqual({ instanceId: 'i', reason: 'exited', exitCode: 1 });
    expect(podExit({ status: { phase: 'Failed', reason: 'Evicted' } }, 'i')).toEqual({ instanceId: 'i', reason: 'killed', exitCode: null });
    expect(podExit({ status: { phase: 'Running' } }, 'i')).toBeNull();
    const pulling: V1Pod = { status: { phase: 'Pending', containerStatuses: [{ name: 'function', image: '', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: 'back-off' } } }] } };
    expect(startProblem(pulling, 'i')).toBe('cannot start its container: ImagePullBackOff (back-off)');
    expect(describePod(pulling)).toBe('Pending, ImagePullBackOff');
  });

  it('turns client exceptions into sentences without the raw exception text', () => {
    const apiException = { code: 422, body: JSON.stringify({ kind: 'Status', reason: 'Invalid', message: 'Pod "x" is invalid' }), message: 'HTTP-Code: 422\nHeaders: {}' };
    expect(apiFailure(apiException)).toEqual({ code: 422, reason: 'Invalid', message: 'Pod "x" is invalid' });
    expect(describeApiFailure(apiException, 'creating pod x', 'ns')).toBe('creating pod x: the Kubernetes API answered 422 Invalid: Pod "x" is invalid');
    expect(describeApiFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'listing', 'ns')).toBe('listing: the Kubernetes API server could not be reached: connect ECONNREFUSED 127.0.0.1:1');
    expect(describeApiFailure({ code: 404, body: JSON.stringify({ reason: 'NotFound', message: 'namespaces "ns" not found' }) }, 'listing', 'ns')).toMatch(/namespace ns does not exist/);
  });
});
