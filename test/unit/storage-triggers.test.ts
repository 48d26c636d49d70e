// Storage triggers without services: what a trigger matches (S3's wildcards, prefix and suffix, source and
// bucket), the S3 event message and the key's encodings, and the dispatcher over a real TriggerIndex and
// MemoryStore and the real async path (AsyncInvocations over the in-memory queue, not started: queued jobs
// are inspected, not run) — a matching object event queues one invocation and keeps the fire, a repeated
// MinIO delivery queues nothing twice, a function that cannot run and a queue that fails are told apart.

import { afterEach, describe, expect, it } from 'vitest';
import { StratusError } from '../../core/errors.js';
import { systemClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import { parseTrigger, type StorageTrigger } from '../../core/triggers.js';
import type { DeployedVersion, FunctionRecord } from '../../core/types.js';
import { AsyncInvocations } from '../../control/invocations/async-invocations.js';
import type { Invoker } from '../../control/invocations/invoker.js';
import { MemoryAsyncQueue } from '../../control/invocations/memory-queue.js';
import { parseMinioBody } from '../../gateway/api/routes/hooks.js';
import { StorageEventHub } from '../../services/storage/events.js';
import { StorageDispatcher } from '../../control/triggers/storage-dispatcher.js';
import { ceHeaderValue, cloudEventOf, encodeEventKey, s3EventMessage, triggerMatches, type ObjectEvent } from '../../control/triggers/storage-match.js';
import { TriggerIndex } from '../../control/triggers/trigger-index.js';
import { minioWebhookBody } from '../support/minio-event.js';
import { until } from '../support/until.js';

const trigger = (spec: Record<string, unknown>, id = 't1', fn = 'thumbs'): StorageTrigger =>
  ({ id, function: fn, createdAt: '2030-01-01T00:00:00.000Z', ...parseTrigger({ type: 'storage', ...spec }) }) as StorageTrigger;
const event = (over: Partial<ObjectEvent> = {}): ObjectEvent => ({
  source: 'stratus', name: 'ObjectCreated:Put', bucket: 'photos', key: 'cats/tom.jpg', size: 4, etag: 'abc', time: '2030-01-01T00:00:00.000Z', sequencer: '01', region: 'us-east-1', ...over,
});

describe('what a storage trigger matches', () => {
  it('ObjectCreated:* stands for Put, Post, Copy and CompleteMultipartUpload; MinIO\'s tag and retention events are not creations', () => {
    const t = trigger({ bucket: 'photos' });
    for (const name of ['ObjectCreated:Put', 'ObjectCreated:Post', 'ObjectCreated:Copy', 'ObjectCreated:CompleteMultipartUpload']) expect(triggerMatches(t, event({ name })), name).toBe(true);
    for (const name of ['ObjectCreated:PutTagging', 'ObjectCreated:PutRetention', 'ObjectRemoved:Delete', 'ObjectAccessed:Get']) expect(triggerMatches(t, event({ name })), name).toBe(false);
  });

  it('ObjectRemoved:* stands for Delete and DeleteMarkerCreated; a named event matches only itself', () => {
    const removed = trigger({ bucket: 'photos', events: ['s3:ObjectRemoved:*'] });
    expect(triggerMatches(removed, event({ name: 'ObjectRemoved:Delete' }))).toBe(true);
    expect(triggerMatches(removed, event({ name: 'ObjectRemoved:DeleteMarkerCreated' }))).toBe(true);
    expect(triggerMatches(removed, event({ name: 'ObjectRemoved:NoOP' }))).toBe(false);
    const copies = trigger({ bucket: 'photos', events: ['ObjectCreated:Copy'] });
    expect(triggerMatches(copies, event({ name: 'ObjectCreated:Copy' }))).toBe(true);
    expect(triggerMatches(copies, event({ name: 'ObjectCreated:Put' }))).toBe(false);
  });

  it('filters on the key\'s prefix and suffix, case-sensitively, and on bucket and source', () => {
    const t = trigger({ bucket: 'photos', filter: { prefix: 'cats/', suffix: '.jpg' } });
    expect(triggerMatches(t, event())).toBe(true);
    expect(triggerMatches(t, event({ key: 'cats/tom.png' }))).toBe(false);
    expect(triggerMatches(t, event({ key: 'dogs/rex.jpg' }))).toBe(false);
    expect(triggerMatches(t, event({ key: 'cats/TOM.JPG' }))).toBe(false);
    expect(triggerMatches(t, event({ bucket: 'other' }))).toBe(false);
    expect(triggerMatches(t, event({ source: 'minio' }))).toBe(false);
    expect(triggerMatches(trigger({ bucket: 'photos', source: 'minio' }), event({ source: 'minio' }))).toBe(true);
  });
});

describe('the event the function receives', () => {
  it('encodes the key as S3 does in a record: "+" for a space, "/" kept, the rest percent-encoded UTF-8', () => {
    expect(encodeEventKey('cats/a b+c.jpg')).toBe('cats/a+b%2Bc.jpg');
    expect(encodeEventKey("é(1)!*'~_-.")).toBe('%C3%A9%281%29%21%2A%27~_-.');
    for (const key of ['cats/a b+c.jpg', 'ünï/cödé 😀.txt', '100%/?#&=.bin', 'a//b']) expect(decodeURIComponent(encodeEventKey(key).replace(/\+/g, ' '))).toBe(key);
  });

  it('percent-encodes the CloudEvent subject as the CloudEvents HTTP binding requires (the spec\'s own example)', () => {
    expect(ceHeaderValue('Euro \u20AC \u{1F600}')).toBe('Euro%20%E2%82%AC%20%F0%9F%98%80');
    expect(ceHeaderValue('cats/tom.jpg')).toBe('cats/tom.jpg');
    expect(ceHeaderValue('a"b%c\nd')).toBe('a%22b%25c%0Ad');
    expect(cloudEventOf(event({ key: 'a b' }))).toEqual({ type: 'dev.stratus.storage.ObjectCreated:Put', source: '/storage/photos', subject: 'a%20b', time: '2030-01-01T00:00:00.000Z' });
    expect(cloudEventOf(event({ source: 'minio' })).source).toBe('/minio/photos');
  });

  it('is S3\'s event message: version 2.1, the trigger id as configurationId, no size or ETag for a removal', () => {
    const t = trigger({ bucket: 'photos' }, 'trig-9');
    expect(s3EventMessage(t, event({ key: 'a b.jpg' }))).toEqual({
      Records: [{
        eventVersion: '2.1', eventSource: 'stratus:s3', awsRegion: 'us-east-1', eventTime: '2030-01-01T00:00:00.000Z', eventName: 'ObjectCreated:Put',
        s3: { s3SchemaVersion: '1.0', configurationId: 'trig-9', bucket: { name: 'photos', arn: 'arn:aws:s3:::photos' }, object: { key: 'a+b.jpg', size: 4, eTag: 'abc', sequencer: '01' } },
      }],
    });
    const removed = s3EventMessage(t, event({ name: 'ObjectRemoved:Delete', source: 'minio', size: 0, etag: '' })).Records[0];
    expect(removed).toMatchObject({ eventSource: 'minio:s3', s3: { object: { key: 'cats/tom.jpg', sequencer: '01' } } });
    expect((removed.s3 as { object: object }).object).not.toHaveProperty('size');
  });
});

describe('the storage dispatcher', () => {
  const ready: DeployedVersion = { function: 'thumbs', version: 1, config: { name: 'thumbs', runtime: 'node', memoryMb: 128, timeoutMs: 1000, env: {}, concurrency: 1, minInstances: 0, maxInstances: 1, idleTtlMs: 60_000, network: 'egress' }, image: null, artifactDir: null };
  const fn = (name: string, currentVersion: number | null): FunctionRecord => ({ name, config: { ...ready.config, name }, currentVersion, latestVersion: 1, createdAt: 't0', updatedAt: 't0' });
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close();
  });

  async function setup(specs: Array<[string, Record<string, unknown>]>) {
    const store = new MemoryStore();
    await store.putFunction(fn('thumbs', 1));
    await store.putFunction(fn('unbuilt', null));
    for (const [i, [f, spec]] of specs.entries()) await store.createTrigger(trigger(spec, `t${i + 1}`, f), 50);
    const index = new TriggerIndex(store, silentLogger);
    await index.start();
    const queue = new MemoryAsyncQueue({ concurrency: 1 });
    const resolve = async (name: string) => {
      if (name === 'thumbs') return ready;
      throw new StratusError('FUNCTION_NOT_READY', `${name} has no built version`);
    };
    const async = new AsyncInvocations({ queue, invoker: {} as Invoker, resolve, idempotencyWindowMs: 60_000 });
    const dispatcher = new StorageDispatcher({ index, store, clock: systemClock, logger: silentLogger, submit: (f, d, o) => async.submit(f, d, o) });
    open.push(index, queue, dispatcher);
    return { store, queue, dispatcher };
  }

  it('queues one invocation per matching trigger for an object event of Stratus\'s storage, and keeps the fire', async () => {
    const { store, queue, dispatcher } = await setup([['thumbs', { bucket: 'photos', filter: { suffix: '.jpg' } }]]);
    const hub = new StorageEventHub(silentLogger);
    dispatcher.follow(hub);
    hub.emit({ name: 'ObjectCreated:Put', bucket: 'photos', key: 'notes.txt', size: 1, etag: 'e0', time: '2030-01-01T00:00:00.000Z' });
    hub.emit({ name: 'ObjectCreated:Put', bucket: 'photos', key: 'cats/tom.jpg', size: 4, etag: 'e1', time: '2030-01-01T00:00:01.000Z' });
    const [fire] = await until('the fire', async () => ((await store.listTriggerFires('t1')).length ? store.listTriggerFires('t1') : undefined));
    expect(fire).toMatchObject({ at: '2030-01-01T00:00:01.000Z', result: 'queued', key: 'cats/tom.jpg' });
    expect(await store.listTriggerFires('t1')).toHaveLength(1);
    const job = await queue.get(fire!.invocationId!);
    expect(job).toMatchObject({ function: 'thumbs', status: 'queued' });
  });

  it('takes MinIO\'s body as sent; a repeated delivery queues nothing twice', async () => {
    const { store, dispatcher } = await setup([['thumbs', { bucket: 'photos', source: 'minio', filter: { prefix: 'in box/' } }]]);
    const body = JSON.parse(minioWebhookBody({ eventName: 's3:ObjectCreated:Put', bucket: 'photos', key: 'in box/a+b.jpg', size: 7, etag: 'e7', modTime: new Date('2030-01-01T00:00:00Z') }));
    const events = parseMinioBody(body);
    expect(events[0]).toMatchObject({ source: 'minio', name: 'ObjectCreated:Put', key: 'in box/a+b.jpg', size: 7, etag: 'e7' });
    expect(await dispatcher.fromMinio(events)).toEqual({ matched: 1, queued: 1, duplicates: 0, failed: 0, unqueued: 0 });
    expect(await dispatcher.fromMinio(parseMinioBody(body))).toEqual({ matched: 1, queued: 0, duplicates: 1, failed: 0, unqueued: 0 });
    expect(await store.listTriggerFires('t1')).toHaveLength(1);
  });

  it('tells a function that cannot run (kept as a failed fire) from a queue that failed (worth a repeat)', async () => {
    const { store, queue, dispatcher } = await setup([['unbuilt', { bucket: 'photos' }], ['thumbs', { bucket: 'photos' }]]);
    queue.enqueue = () => Promise.reject(new Error('redis went away'));
    expect(await dispatcher.dispatch(event())).toEqual({ matched: 2, queued: 0, duplicates: 0, failed: 1, unqueued: 1 });
    expect((await store.listTriggerFires('t1'))[0]).toMatchObject({ result: 'failed', invocationId: null, reason: expect.stringContaining('no built version') });
    expect((await store.listTriggerFires('t2'))[0]).toMatchObject({ result: 'failed', reason: 'redis went away' });
  });

  it('after close: follows no event and refuses MinIO\'s with SHUTTING_DOWN', async () => {
    const { store, dispatcher } = await setup([['thumbs', { bucket: 'photos' }]]);
    const hub = new StorageEventHub(silentLogger);
    dispatcher.follow(hub);
    await dispatcher.close();
    hub.emit({ name: 'ObjectCreated:Put', bucket: 'photos', key: 'late.jpg', size: 1, etag: 'e', time: '2030-01-01T00:00:00.000Z' });
    // A fire over the in-memory store and queue settles within a few turns of the event loop.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    await expect(dispatcher.fromMinio([event({ source: 'minio' })])).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    expect(await store.listTriggerFires('t1')).toEqual([]);
  });
});
