// What a waiting request of a version pool is answered when it cannot be served: 429 when the function is
// at its limit (with Retry-After), 504 when it waited on a cold start that was still under way — the
// caller waited on a slow start, not on a busy function, and a Retry-After would send it back into the
// same wait. Apart from version-pool.ts, which decides when; these say what, in the caller's words.

import { StratusError } from '../core/errors.js';
import type { DeployedVersion } from '../core/types.js';

export function startTooSlowError(target: DeployedVersion, waitedMs: number): StratusError {
  const name = target.function;
  const timeoutMs = target.config.timeoutMs;
  return new StratusError(
    'FUNCTION_TIMEOUT',
    `function ${name} got no instance within ${waitedMs} ms: a cold start was still under way; raise timeoutMs (${timeoutMs} ms) or keep instances warm with minInstances`,
    { function: name, timeoutMs },
  );
}

export function tooManyError(target: DeployedVersion, why: string): StratusError {
  const cfg = target.config;
  return new StratusError(
    'TOO_MANY_REQUESTS',
    `${target.function} is at its limit (${cfg.maxInstances} instances × ${cfg.concurrency} concurrent requests) and ${why}; retry shortly or raise maxInstances/concurrency`,
    { field: 'config.maxInstances', retryAfterSeconds: 1 },
  );
}
