// The configuration end-to-end suites start Stratus with: real Redis and Docker, an ephemeral port, a
// state dir of the test's own, the host's extra CA passed to builds. Suites add what they exercise.

import { loadConfig, type Config } from '../../core/config.js';

/** The suites run through the native data plane (HAProxy in front): CI's second pass of the hostile suites. */
export const E2E_NATIVE = process.env.STRATUS_E2E_DATA_PLANE === 'native';

export const E2E_API_KEY = 'test-key-0123456789abcdef';

export function e2eConfig(stateDir: string, extra: Record<string, string> = {}): Config {
  return loadConfig({
    STRATUS_PORT: '0',
    STRATUS_STATE_DIR: stateDir,
    STRATUS_API_KEY: E2E_API_KEY,
    STRATUS_STORE: 'redis',
    STRATUS_BACKEND: 'docker',
    STRATUS_STEM_POOL_SIZE: '1',
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
    // Node's data plane unless a suite asks; CI runs the hostile suites again with STRATUS_E2E_DATA_PLANE=native.
    STRATUS_DATA_PLANE: process.env.STRATUS_E2E_DATA_PLANE ?? 'node',
    ...extra,
  });
}
