// Idempotency-Keys are scoped to who sent them (control/invocations/idempotency.ts): the contract over the
// in-memory queue (BullMQ on Redis: test/integration/idempotency-scope-bull.test.ts), the scope's spelling,
// and the attack end to end through the gateway — an anonymous caller of a public function URL claims the
// key first, then the admin's POST /v1/functions/NAME/invocations with it still runs.

import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN, ANONYMOUS, scopedIdempotencyKey, type Submitter } from '../../control/invocations/idempotency.js';
import { MemoryAsyncQueue } from '../../control/invocations/memory-queue.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';
import { idempotencyScopeContract } from '../support/idempotency-scope-contract.js';

describe('scoped idempotency keys over the in-memory queue', () => {
  idempotencyScopeContract(async () => new MemoryAsyncQueue({ concurrency: 2 }));
});

describe('the scope\'s spelling', () => {
  it('puts the scope before the first ":", which no scope contains, so no key reads as another scope', () => {
    const senders: Submitter[] = [ADMIN, ANONYMOUS, { kind: 'invoke-key', keyId: 'a1b2-c3' }, { kind: 'invoke-key', keyId: 'a1b2' }, { kind: 'internal', source: 'storage' }, { kind: 'internal', source: 'cron' }];
    const keys = ['x', ':x', 'x:', 'admin:x', 'anon:x', 'key.a1b2-c3:x', 'key.a1b2:c3:x', 'internal.storage:x', '-c3:x'];
    const all = new Map<string, string>();
    for (const by of senders) {
      const scopes = new Set<string>();
      for (const key of keys) {
        const scoped = scopedIdempotencyKey(by, key);
        scopes.add(scoped.slice(0, scoped.indexOf(':')));
        expect(scoped.slice(scoped.indexOf(':') + 1)).toBe(key);
        const clash = all.get(scoped);
        expect(clash, `${JSON.stringify(by)} ${key} vs ${clash}`).toBeUndefined();
        all.set(scoped, `${JSON.stringify(by)} ${key}`);
      }
      expect(scopes.size).toBe(1); // one sender, one scope, whatever its keys hold
    }
    expect(scopedIdempotencyKey(ADMIN, 'k')).toBe(scopedIdempotencyKey(ADMIN, 'k'));
    expect(() => scopedIdempotencyKey({ kind: 'invoke-key', keyId: 'x:admin' }, 'k')).toThrow(/cannot name an idempotency scope/);
  });
});

describe('scoped idempotency keys through the gateway', () => {
  let h: Harness;
  let queue: MemoryAsyncQueue;
  beforeEach(async () => {
    queue = new MemoryAsyncQueue({ concurrency: 2 });
    h = await startHarness({}, { asyncQueue: queue });
    for (const name of ['hello', 'locked']) {
      const up = await request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name, runtime: 'node', async: { maxAttempts: 1, backoffMs: 1 } })).attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
      await h.builder.succeed(up.body.buildId);
    }
    expect((await request(h.app).post('/v1/functions/locked/triggers').set(auth).send({ type: 'http', auth: 'key' })).status).toBe(201);
  });
  afterEach(async () => {
    await queue.close();
    await h.close();
  });

  const viaUrl = (fn: string, key: string, headers: Record<string, string> = {}) =>
    request(h.app).post(`/fn/${fn}`).set('x-stratus-invocation-type', 'async').set('idempotency-key', key).set(headers).send({ from: 'url' });
  const viaApi = (fn: string, key: string) => request(h.app).post(`/v1/functions/${fn}/invocations`).set(auth).set('idempotency-key', key).send({ from: 'admin' });

  it('an anonymous Idempotency-Key does not block the admin\'s', async () => {
    const anon = await viaUrl('hello', 'order-42');
    expect(anon.status).toBe(202);
    expect(anon.body).toMatchObject({ status: 'queued', duplicate: false });
    const admin = await viaApi('hello', 'order-42');
    expect(admin.status).toBe(202);
    expect(admin.body).toMatchObject({ status: 'queued', duplicate: false });
    expect(admin.body.id).not.toBe(anon.body.id);
    expect((await queue.get(admin.body.id))!.function).toBe('hello');
    // Same sender, same key: still a duplicate, on either path.
    expect((await viaApi('hello', 'order-42')).body).toMatchObject({ id: admin.body.id, duplicate: true });
    expect((await viaUrl('hello', 'order-42')).body).toMatchObject({ id: anon.body.id, duplicate: true });
    // A caller spelling the admin's scope into its key is still anonymous.
    expect((await viaUrl('hello', 'admin:order-42')).body.duplicate).toBe(false);
  });

  it('two invoke keys of one function do not collide, nor with the admin', async () => {
    const newKey = async () => (await request(h.app).post('/v1/functions/locked/keys').set(auth).send({})).body as { id: string; key: string };
    const [a, b] = [await newKey(), await newKey()];
    const first = await viaUrl('locked', 'job-1', { 'x-stratus-key': a.key });
    const second = await viaUrl('locked', 'job-1', { 'x-stratus-key': b.key });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(second.body.duplicate).toBe(false);
    expect(second.body.id).not.toBe(first.body.id);
    expect((await viaApi('locked', 'job-1')).body.duplicate).toBe(false);
    expect((await viaUrl('locked', 'job-1', { 'x-stratus-key': a.key })).body).toMatchObject({ id: first.body.id, duplicate: true });
    // Without a valid key the call never reaches the intake.
    expect((await viaUrl('locked', 'job-1')).status).toBe(401);
  });

  it('a repeated POST answers the invocation\'s real status once it has run', async () => {
    h.instance.handle = (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(500).end('no'));
    };
    queue.start(h.app.asyncInvocations.process);
    const first = await viaApi('hello', 'retry-me');
    for (let i = 0; (await queue.get(first.body.id))?.status !== 'dead'; i++) {
      if (i > 500) throw new Error('the invocation never died');
      await new Promise((r) => setTimeout(r, 10));
    }
    const again = await viaApi('hello', 'retry-me');
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ id: first.body.id, duplicate: true, status: 'dead' });
  });
});
