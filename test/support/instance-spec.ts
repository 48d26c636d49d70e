// An InstanceSpec for backend tests: a Node stem with the defaults a scheduler would give it; tests
// override what they exercise. Ids are unique per process.

import type { InstanceSpec } from '../../scheduler/backends/backend.js';
import { RUNTIME_IMAGES } from './services.js';

let n = 0;

export function instanceSpec(idPrefix: string, over: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    instanceId: `${idPrefix}${process.pid}-${++n}`,
    role: 'stem',
    runtime: 'node',
    function: null,
    version: null,
    image: RUNTIME_IMAGES.node,
    artifactDir: null,
    handler: null,
    memoryMb: 256,
    cpus: null,
    network: 'egress',
    env: {},
    ...over,
  };
}
