// Idempotency keys are scoped to who sent them. Without a scope, whoever sends a key first owns it: an
// anonymous caller of a public function URL could claim "order-42" and the owner's later POST
// /v1/functions/NAME/invocations with that key would be answered `duplicate: true` and never run. So the
// stored key is the sender's scope, a ":", then the key as sent:
//
//   admin:KEY               the admin API key (/v1, the CLI, the dashboard)
//   key.<invoke key id>:KEY a function URL called with one of its invoke keys (each key its own scope)
//   anon:KEY                a public function URL, anyone
//   internal.<source>:KEY   Stratus's own fires (storage triggers), which no HTTP caller can be
//
// A scope never contains ":", so the text before the first ":" is always the whole scope, whatever
// characters the sent key holds: no key can be written that reads as another scope's. The scope comes from
// how the request was authenticated, never from the request's text. The branded type makes the queues
// (both implementations, async-queue.ts and memory-queue.ts) take only a key that went through here.

export type Submitter =
  | { kind: 'admin' }
  | { kind: 'invoke-key'; keyId: string }
  | { kind: 'anonymous' }
  | { kind: 'internal'; source: 'storage' | 'cron' };

export const ADMIN: Submitter = Object.freeze({ kind: 'admin' });
export const ANONYMOUS: Submitter = Object.freeze({ kind: 'anonymous' });

declare const scoped: unique symbol;
/** An Idempotency-Key with its sender's scope: what the queues store. */
export type ScopedIdempotencyKey = string & { readonly [scoped]: true };

const SCOPE_PART = /^[A-Za-z0-9-]{1,100}$/;

export function scopedIdempotencyKey(by: Submitter, key: string): ScopedIdempotencyKey {
  return `${scopeOf(by)}:${key}` as ScopedIdempotencyKey;
}

function scopeOf(by: Submitter): string {
  switch (by.kind) {
    case 'admin':
      return 'admin';
    case 'anonymous':
      return 'anon';
    case 'invoke-key':
      // Ids are UUIDs the platform made; anything else here is a bug, never a caller's doing.
      if (!SCOPE_PART.test(by.keyId)) throw new Error(`invoke key id ${JSON.stringify(by.keyId)} cannot name an idempotency scope`);
      return `key.${by.keyId}`;
    case 'internal':
      return `internal.${by.source}`;
  }
}

