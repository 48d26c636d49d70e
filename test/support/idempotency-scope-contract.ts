// What every async queue must do with scoped Idempotency-Keys (control/invocations/idempotency.ts), run against
// the in-memory queue (test/unit/idempotency-scope.test.ts) and BullMQ on real Redis
// (test/integration/idempotency-scope-bull.test.ts): the same key sent by the admin, by an anonymous
// caller, by each invoke key and by Stratus's own storage fires never collides, whatever characters a
// caller puts in it; the same sender with the same key is still a duplicate; and a duplicate is answered
// with the first invocation's current status.

import { afterEach, expect, it } from 'vitest';
import type { DeployedVersion } from '../../core/types.js';
import { AsyncInvocations } from '../../control/invocations/async-invocations.js';
import { AttemptFailed, type AsyncQueue, type AsyncStatus } from '../../control/invocations/async-queue.js';
import { ADMIN, ANONYMOUS, scopedIdempotencyKey, type Submitter } from '../../control/invocations/idempotency.js';
import type { Invoker } from '../../control/invocations/invoker.js';

const target = { function: 'hello', version: 1, config: { timeoutMs: 1000, async: { maxAttempts: 1, backoffMs: 1 } } } as unknown as DeployedVersion;
const keyA: Submitter = { kind: 'invoke-key', keyId: '6f1c2a34-0b7d-4d2e-9a51-0c3f1e2d4b5a' };
const keyB: Submitter = { kind: 'invoke-key', keyId: '0d9e8f7a-6b5c-4d3e-8f21-a0b1c2d3e4f5' };
const storageFire: Submitter = { kind: 'internal', source: 'storage' };

export function idempotencyScopeContract(makeQueue: () => Promise<AsyncQueue>): void {
  const open: AsyncQueue[] = [];
  afterEach(async () => {
    for (const q of open.splice(0)) await q.close();
  });
  const setup = async () => {
    const queue = await makeQueue();
    open.push(queue);
    const intake = new AsyncInvocations({ queue, invoker: {} as Invoker, resolve: async () => target, idempotencyWindowMs: 60_000 });
    const submit = (by: Submitter, key: string, data: unknown = null) => intake.submit('hello', data, { idempotencyKey: scopedIdempotencyKey(by, key) });
    return { queue, submit };
  };

  it('an anonymous caller\'s key does not block the admin\'s, and each repeat is its own sender\'s duplicate', async () => {
    const { submit } = await setup();
    const anon = await submit(ANONYMOUS, 'order-42');
    const admin = await submit(ADMIN, 'order-42');
    expect(anon.duplicate).toBe(false);
    expect(admin).toMatchObject({ duplicate: false, status: 'queued' });
    expect(admin.id).not.toBe(anon.id);
    expect(await submit(ADMIN, 'order-42')).toMatchObject({ id: admin.id, duplicate: true });
    expect(await submit(ANONYMOUS, 'order-42')).toMatchObject({ id: anon.id, duplicate: true });
  });

  it('two invoke keys do not collide, nor with the admin or anyone', async () => {
    const { submit } = await setup();
    const ids = new Set<string>();
    for (const by of [keyA, keyB, ADMIN, ANONYMOUS]) {
      const s = await submit(by, 'same');
      expect(s.duplicate).toBe(false);
      ids.add(s.id);
    }
    expect(ids.size).toBe(4);
    expect(await submit(keyA, 'same')).toMatchObject({ duplicate: true });
    expect((await submit(keyB, 'same')).duplicate).toBe(true);
  });

  it('no caller can send a key that collides with a storage fire\'s, or with another scope\'s', async () => {
    const { submit } = await setup();
    const fireKey = `storage:${'ab'.repeat(32)}`;
    const fire = await submit(storageFire, fireKey);
    // What a hostile caller could send, trying to land in another scope: every scope's own spelling.
    const forged = [fireKey, `internal.storage:${fireKey}`, `:internal.storage:${fireKey}`, `admin:${fireKey}`, `anon:internal.storage:${fireKey}`, `key.${(keyA as { keyId: string }).keyId}:${fireKey}`];
    const seen = new Set([fire.id]);
    for (const by of [ANONYMOUS, ADMIN, keyA]) {
      for (const key of forged) {
        const s = await submit(by, key);
        expect(s.duplicate, `${by.kind} sending ${key}`).toBe(false);
        expect(seen.has(s.id), `${by.kind} sending ${key}`).toBe(false);
        seen.add(s.id);
      }
    }
    // The admin sending "anon:x" is not the anonymous caller's "x", nor the other way round.
    const anonX = await submit(ANONYMOUS, 'x');
    expect((await submit(ADMIN, 'anon:x')).id).not.toBe(anonX.id);
    // A repeated delivery of the same change is still the fire's duplicate.
    expect(await submit(storageFire, fireKey)).toMatchObject({ id: fire.id, duplicate: true });
  });

  it('answers a duplicate with the first invocation\'s current status, not "queued"', async () => {
    const { queue, submit } = await setup();
    const ok = await submit(ADMIN, 'will-succeed', 'ok');
    const bad = await submit(ADMIN, 'will-die', 'fail');
    expect(await submit(ADMIN, 'will-succeed', 'ok')).toMatchObject({ id: ok.id, duplicate: true, status: 'queued' });
    queue.start(async (job) => {
      if (job.event.data === 'fail') throw new AttemptFailed('FUNCTION_ERROR', 'it failed');
      return { statusCode: 200, contentType: null, body: 'done', truncated: false };
    });
    await settled(queue, ok.id, 'succeeded');
    await settled(queue, bad.id, 'dead');
    expect(await submit(ADMIN, 'will-succeed', 'ok')).toMatchObject({ id: ok.id, duplicate: true, status: 'succeeded' });
    expect(await submit(ADMIN, 'will-die', 'fail')).toMatchObject({ id: bad.id, duplicate: true, status: 'dead' });
  });
}

async function settled(queue: AsyncQueue, id: string, status: AsyncStatus): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await queue.get(id))?.status !== status) {
    if (Date.now() > deadline) throw new Error(`${id} never became ${status}: ${JSON.stringify(await queue.get(id))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
