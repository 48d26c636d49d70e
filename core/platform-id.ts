// Which Stratus this is, among several sharing one host, one Docker engine or one Redis. Derived from the
// state dir: a restart over the same state is the same platform (it adopts its own instances and reads
// its own keys), and two Stratus with different state dirs — or a test run beside a dev server — never
// see, reap or delete each other's containers and functions.

import crypto from 'node:crypto';

/** The value of the dev.stratus.platform label on every instance. */
export function platformIdFor(stateDir: string): string {
  return `stratus-${crypto.createHash('sha256').update(stateDir).digest('hex').slice(0, 10)}`;
}

/** The default Redis key prefix: the platform id, so keys and containers are told apart the same way. */
export function redisPrefixFor(stateDir: string): string {
  return `${platformIdFor(stateDir)}:`;
}
