// The object storage's bounds on a real state directory (services/storage/multipart.ts, quota.ts,
// upload-expiry.ts, object-store.ts): a multipart upload's bytes bounded as parts arrive — declared or
// streamed, concurrent parts included — unfinished uploads expiring on an injected clock and a timer faked
// without sleeping, and quotas that refuse, give room back on delete, abort, overwrite and failed writes,
// and start again from the disk after a restart.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { S3Error } from '../../services/storage/errors.js';
import { metered } from '../../services/storage/metered.js';
import { Multipart } from '../../services/storage/multipart.js';
import { ObjectStore } from '../../services/storage/object-store.js';
import { StorageUsage, type QuotaSettings } from '../../services/storage/quota.js';
import { UploadExpiry } from '../../services/storage/upload-expiry.js';

const DAY = 86_400_000;
const props = { contentType: 'application/octet-stream', userMeta: {} };
let stateDir: string;
let clock: ManualClock;

beforeEach(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-limits-'));
  clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

async function open(opts: { maxObjectBytes?: number; quota?: QuotaSettings; expiryMs?: number } = {}) {
  const usage = new StorageUsage(opts.quota);
  const objects = new ObjectStore(stateDir, usage);
  await objects.init();
  const multipart = new Multipart(objects, { maxObjectBytes: opts.maxObjectBytes ?? 1000, expiryMs: opts.expiryMs ?? 7 * DAY, now: () => clock.now() });
  await multipart.init();
  return { usage, objects, multipart };
}

/** A body in several chunks, as a client streams it (no length known up front). */
const streamed = (n: number, chunk = 10) => Readable.from(Array.from({ length: Math.ceil(n / chunk) }, (_, i) => Buffer.alloc(Math.min(chunk, n - i * chunk), 1)));

async function code(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err, 'should have been refused').toBeInstanceOf(S3Error);
  return (err as S3Error).code;
}

const uploadDir = (m: Multipart, id: string) => path.join(m.root, id);
const filesIn = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);

/** A PUT as object-ops.ts makes it: the declared length (if any) reserved, then the body metered. */
async function put(objects: ObjectStore, bucket: string, key: string, size: number, declared: boolean): Promise<void> {
  const reservation = objects.usage.reserve(bucket, declared ? size : 0);
  try {
    await objects.put(bucket, key, metered(streamed(size), reservation), props, { reservation });
  } finally {
    reservation.release();
  }
}

describe('a multipart upload is bounded as its parts arrive', () => {
  it('refuses the part that would cross the object size limit, declared or streamed, and keeps nothing of it', async () => {
    const { objects, multipart, usage } = await open({ maxObjectBytes: 100 });
    await objects.createBucket('bk1');
    const id = await multipart.create('bk1', 'k', props);
    await multipart.uploadPart('bk1', 'k', id, '1', streamed(60), 60);
    await multipart.uploadPart('bk1', 'k', id, '2', streamed(30), undefined);
    expect(await code(multipart.uploadPart('bk1', 'k', id, '3', streamed(11), 11))).toBe('EntityTooLarge');
    // Without a length the chunk that crosses fails the stream: 10 bytes fit, the next 10 do not.
    expect(await code(multipart.uploadPart('bk1', 'k', id, '3', streamed(20), undefined))).toBe('EntityTooLarge');
    expect(multipart.listParts('bk1', 'k', id).map((p) => [p.partNumber, p.size])).toEqual([[1, 60], [2, 30]]);
    expect(filesIn(uploadDir(multipart, id)).filter((f) => f.startsWith('part-3'))).toEqual([]);
    expect(filesIn(path.join(objects.root, 'tmp'))).toEqual([]);
    expect(usage.usedIn('bk1')).toBe(90);
    // Exactly to the limit is allowed; a re-sent part replaces its bytes rather than adding them.
    await multipart.uploadPart('bk1', 'k', id, '3', streamed(10), 10);
    await multipart.uploadPart('bk1', 'k', id, '2', streamed(5), 5);
    expect(usage.usedIn('bk1')).toBe(75);
    expect(filesIn(uploadDir(multipart, id)).filter((f) => f.startsWith('part-2'))).toHaveLength(2); // bytes + .json
  });

  it('lets concurrent parts take no more than the limit between them', async () => {
    const { objects, multipart, usage } = await open({ maxObjectBytes: 100 });
    await objects.createBucket('bk1');
    const id = await multipart.create('bk1', 'k', props);
    // 12 parts of 20 bytes at once, half of them without a length: exactly 5 fit.
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => multipart.uploadPart('bk1', 'k', id, String(i + 1), streamed(20, 5), i % 2 ? 20 : undefined)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as S3Error).code).toBe('EntityTooLarge');
    expect(multipart.listParts('bk1', 'k', id).reduce((n, p) => n + p.size, 0)).toBe(100);
    expect(usage.usedIn('bk1')).toBe(100);
    expect(filesIn(path.join(objects.root, 'tmp'))).toEqual([]);
  });

  it('turns the parts into the object at Complete without counting them twice', async () => {
    const { objects, multipart, usage } = await open({ maxObjectBytes: 100 * 1024 * 1024 });
    await objects.createBucket('bk1');
    const id = await multipart.create('bk1', 'k', props);
    const e1 = await multipart.uploadPart('bk1', 'k', id, '1', Readable.from([Buffer.alloc(5 * 1024 * 1024, 1)]), 5 * 1024 * 1024);
    const e2 = await multipart.uploadPart('bk1', 'k', id, '2', streamed(7), 7);
    await multipart.uploadPart('bk1', 'k', id, '3', streamed(9), 9); // uploaded, left out of the list
    expect(usage.usedIn('bk1')).toBe(5 * 1024 * 1024 + 16);
    const meta = await multipart.complete('bk1', 'k', id, [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }]);
    expect(meta.size).toBe(5 * 1024 * 1024 + 7);
    expect(usage.usedIn('bk1')).toBe(meta.size);
    expect(fs.existsSync(uploadDir(multipart, id))).toBe(false);
    expect(await code(multipart.complete('bk1', 'k', id, [{ partNumber: 1, etag: e1 }]))).toBe('NoSuchUpload');
  });
});

describe('unfinished uploads expire', () => {
  it('removes an upload and its parts from disk once the expiry has passed on the clock, not before', async () => {
    const { objects, multipart, usage } = await open({ expiryMs: 7 * DAY });
    await objects.createBucket('bk1');
    const old = await multipart.create('bk1', 'k', props);
    await multipart.uploadPart('bk1', 'k', old, '1', streamed(40), 40);
    clock.advance(3 * DAY);
    const young = await multipart.create('bk1', 'k2', props);
    await multipart.uploadPart('bk1', 'k2', young, '1', streamed(25), 25);
    expect(usage.usedIn('bk1')).toBe(65);

    clock.advance(4 * DAY - 1);
    expect(await multipart.sweep()).toEqual([]);
    expect(filesIn(uploadDir(multipart, old))).toHaveLength(3);
    clock.advance(1);
    expect(await multipart.sweep()).toEqual([old]);
    expect(fs.existsSync(uploadDir(multipart, old))).toBe(false);
    expect(usage.usedIn('bk1')).toBe(25);
    expect(await code(multipart.uploadPart('bk1', 'k', old, '2', streamed(1), 1))).toBe('NoSuchUpload');
    // The bucket is empty once the other expires too.
    expect(await code(objects.deleteBucket('bk1', multipart.countIn('bk1')))).toBe('BucketNotEmpty');
    clock.advance(3 * DAY);
    expect(await multipart.sweep()).toEqual([young]);
    expect(filesIn(multipart.root)).toEqual([]);
    await objects.deleteBucket('bk1', multipart.countIn('bk1'));
  });

  it('keeps an upload begun before a restart on its first clock, and expires it after', async () => {
    const first = await open();
    await first.objects.createBucket('bk1');
    const id = await first.multipart.create('bk1', 'k', props);
    await first.multipart.uploadPart('bk1', 'k', id, '1', streamed(10), 10);
    clock.advance(7 * DAY);
    const { multipart, usage } = await open();
    expect(usage.usedIn('bk1')).toBe(10);
    expect(await multipart.sweep()).toEqual([id]);
    expect(usage.usedIn('bk1')).toBe(0);
  });

  it('is run by a timer that close() stops, without sleeping', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { objects, multipart } = await open({ expiryMs: DAY });
    await objects.createBucket('bk1');
    const id = await multipart.create('bk1', 'k', props);
    const expiry = new UploadExpiry(multipart, silentLogger, 60_000);
    expiry.start();
    await expiry.sweep(); // the one at start: nothing is old yet
    expect(fs.existsSync(uploadDir(multipart, id))).toBe(true);
    clock.advance(DAY);
    vi.advanceTimersByTime(60_000);
    await expiry.sweep(); // waits for the sweep the timer began
    expect(fs.existsSync(uploadDir(multipart, id))).toBe(false);

    const later = await multipart.create('bk1', 'k', props);
    await expiry.close();
    clock.advance(2 * DAY);
    vi.advanceTimersByTime(10 * 60_000);
    await new Promise((r) => setImmediate(r));
    expect(fs.existsSync(uploadDir(multipart, later)), 'no sweep after close').toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('quotas', () => {
  it('refuse a write past the bucket quota and give the room back on delete', async () => {
    const { objects, usage } = await open({ quota: { bucketBytes: 100, totalBytes: null } });
    await objects.createBucket('bk1');
    await objects.createBucket('bk2');
    await put(objects, 'bk1', 'a', 60, true);
    expect(await code(put(objects, 'bk1', 'b', 50, true))).toBe('QuotaExceeded');
    // Streamed, it is refused at the chunk that crosses, and nothing of it stays.
    expect(await code(put(objects, 'bk1', 'b', 50, false))).toBe('QuotaExceeded');
    expect([...(await objects.requireBucket('bk1')).keys()]).toEqual(['a']);
    expect(filesIn(path.join(objects.root, 'buckets', 'bk1', 'data'))).toHaveLength(1);
    expect(usage.usedIn('bk1')).toBe(60);
    await put(objects, 'bk2', 'b', 50, true); // another bucket has its own
    expect(await objects.delete('bk1', 'a')).toBe(true);
    expect(usage.usedIn('bk1')).toBe(0);
    await put(objects, 'bk1', 'b', 100, true);
  });

  it('count an overwrite as the new size once it commits, holding both while it is written', async () => {
    const { objects, usage } = await open({ quota: { bucketBytes: 100, totalBytes: null } });
    await objects.createBucket('bk1');
    await put(objects, 'bk1', 'a', 40, true);
    await put(objects, 'bk1', 'a', 55, true); // 40 + 55 fit while both are on disk
    expect(usage.usedIn('bk1')).toBe(55);
    expect(await code(put(objects, 'bk1', 'a', 50, true))).toBe('QuotaExceeded'); // 55 + 50 do not
    await put(objects, 'bk1', 'a', 10, false);
    expect(usage.usedIn('bk1')).toBe(10);
  });

  it('bound all buckets together, concurrent writes included', async () => {
    const { objects, usage } = await open({ quota: { bucketBytes: null, totalBytes: 100 } });
    await objects.createBucket('bk1');
    await objects.createBucket('bk2');
    const writes = Array.from({ length: 10 }, (_, i) => put(objects, i % 2 ? 'bk1' : 'bk2', `k${i}`, 20, i % 3 === 0));
    const results = await Promise.allSettled(writes);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    for (const r of results) {
      if (r.status !== 'rejected') continue;
      expect((r.reason as S3Error).code).toBe('QuotaExceeded');
      // A key scoped to one bucket is not told how much the others hold.
      expect((r.reason as S3Error).message).toContain('STRATUS_S3_QUOTA_MB');
      expect((r.reason as S3Error).message).not.toMatch(/held|\b(80|100)\b/);
    }
    expect(usage.total.used).toBe(100);
    expect(usage.usedIn('bk1') + usage.usedIn('bk2')).toBe(100);
  });

  it('count unfinished uploads\u2019 parts, and give them back on abort', async () => {
    const { objects, multipart, usage } = await open({ quota: { bucketBytes: 100, totalBytes: null } });
    await objects.createBucket('bk1');
    const id = await multipart.create('bk1', 'k', props);
    await multipart.uploadPart('bk1', 'k', id, '1', streamed(70), 70);
    expect(await code(put(objects, 'bk1', 'x', 40, true))).toBe('QuotaExceeded');
    expect(await code(multipart.uploadPart('bk1', 'k', id, '2', streamed(40), 40))).toBe('QuotaExceeded');
    await multipart.abort('bk1', 'k', id);
    expect(usage.usedIn('bk1')).toBe(0);
    await put(objects, 'bk1', 'x', 100, true);
  });

  it('give back what a failed write reserved', async () => {
    const { objects, usage } = await open({ quota: { bucketBytes: 100, totalBytes: 100 } });
    await objects.createBucket('bk1');
    const failing = new Readable({ read() {} });
    failing.push(Buffer.alloc(30));
    setImmediate(() => failing.destroy(new S3Error('IncompleteBody', 'the client went away')));
    const reservation = usage.reserve('bk1', 80);
    expect(await code(objects.put('bk1', 'a', metered(failing, reservation), props, { reservation }).finally(() => reservation.release()))).toBe('IncompleteBody');
    expect(usage.usedIn('bk1')).toBe(0);
    expect(usage.total.used).toBe(0);
    await put(objects, 'bk1', 'a', 100, true);
  });

  it('start from what the disk holds after a restart', async () => {
    const first = await open({ quota: { bucketBytes: 100, totalBytes: null } });
    await first.objects.createBucket('bk1');
    await put(first.objects, 'bk1', 'a', 30, true);
    await put(first.objects, 'bk1', 'a', 45, true);
    await put(first.objects, 'bk1', 'b', 20, true);
    const id = await first.multipart.create('bk1', 'k', props);
    await first.multipart.uploadPart('bk1', 'k', id, '1', streamed(15), 15);
    await first.multipart.uploadPart('bk1', 'k', id, '1', streamed(12), 12);
    // A crash between a part's bytes and its .json leaves bytes nothing names: dropped, not counted.
    fs.writeFileSync(path.join(uploadDir(first.multipart, id), 'part-2.0000'), Buffer.alloc(50));
    const { usage, multipart } = await open({ quota: { bucketBytes: 100, totalBytes: null } });
    expect(usage.usedIn('bk1')).toBe(45 + 20 + 12);
    expect(multipart.listParts('bk1', 'k', id).map((p) => p.size)).toEqual([12]);
    expect(filesIn(uploadDir(multipart, id)).filter((f) => f.startsWith('part-2'))).toEqual([]);
  });
});
