// Ids of what Stratus records and lists: requests (on a function URL a call's request id is its invocation
// id), async invocations and builds. UUIDv7 (RFC 9562, the uuid package): the first 48 bits are the
// creation time in ms and a counter orders ids made in the same ms, so ids sort by creation — as text, in
// a listing, or as members of a Redis sorted set with equal scores — and an id tells when it was made; they
// are still 36-character UUIDs of [0-9a-f-] wherever a UUID or an idempotency scope's [A-Za-z0-9-] is
// checked. Ids that nothing lists in order (triggers, keys, deliveries, storage files) stay random (v4).
//
// Cost: uuid's v7 asks the OS for 16 random bytes per id (crypto.getRandomValues, ~2.3 µs on Node 20, 15×
// node:crypto's randomUUID, which draws from a cache). A request id is made on the warm path, so the bytes
// come from a pool refilled every POOL_IDS ids, as randomUUID's cache is: ~0.34 µs per id against
// randomUUID's ~0.15 µs (bench/ids.ts). Passing the bytes in makes uuid skip its own clock and counter,
// so the counter is kept here, by uuid's rule.

import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

const POOL_IDS = 256;
const pool = new Uint8Array(16 * POOL_IDS);
let used = pool.length;

let lastMs = -Infinity;
let seq = 0;

function randomBytes16(): Uint8Array {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  return pool.subarray(used, (used += 16));
}

/** A new UUIDv7, greater than every one made before it in this process (even if the clock steps back). */
function timeOrderedId(): string {
  const random = randomBytes16();
  const now = Date.now();
  if (now > lastMs) {
    // A fresh random start each ms (31 bits, as uuid's v7 takes them), so ids are not guessable from a neighbour's.
    seq = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
    lastMs = now;
  } else {
    seq = (seq + 1) | 0;
    if (seq === 0) lastMs++; // the counter ran out within one ms: borrow the next ms
  }
  return v7({ random, msecs: lastMs, seq });
}

/** A request's id; on a function URL also the call's invocation id (records and logs are found by it). */
export const newRequestId: () => string = timeOrderedId;
/** An async invocation's id (also BullMQ's job id). */
export const newInvocationId: () => string = timeOrderedId;
/** A build's id (also the name of its upload and work dirs: core/state-layout.ts). */
export const newBuildId: () => string = timeOrderedId;
