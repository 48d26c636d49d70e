// POST /v1/hooks/storage/minio through the whole gateway app (createApp over in-memory fakes): it is served
// without the admin key, off without STRATUS_MINIO_WEBHOOK_TOKEN, refuses a missing or wrong token before
// reading the body, takes MinIO's body as MinIO writes it (keys decoded), names the field of a malformed
// one, bounds its size, answers the HEAD probe of older MinIO releases, and answers an error MinIO will
// retry when an invocation could not be queued. The sink records what it was given.

import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { MinioEventSink } from '../../gateway/api/routes/hooks.js';
import type { DispatchSummary } from '../../control/triggers/storage-dispatcher.js';
import type { ObjectEvent } from '../../control/triggers/storage-match.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';
import { minioWebhookBody } from '../support/minio-event.js';

const TOKEN = 'minio-hook-token-0123456789';
const PATH = '/v1/hooks/storage/minio';

class RecordingSink implements MinioEventSink {
  readonly received: ObjectEvent[][] = [];
  answer: DispatchSummary = { matched: 1, queued: 1, duplicates: 0, failed: 0, unqueued: 0 };
  async fromMinio(events: ObjectEvent[]): Promise<DispatchSummary> {
    this.received.push(events);
    return this.answer;
  }
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function hook(env: Record<string, string> = { STRATUS_MINIO_WEBHOOK_TOKEN: TOKEN }) {
  const sink = new RecordingSink();
  h = await startHarness(env, { storageTriggers: sink });
  return { app: h.app, sink };
}
const post = (app: Harness['app'], body: string, token: string | null = TOKEN) => {
  const r = request(app).post(PATH).set('content-type', 'application/json');
  return (token === null ? r : r.set('authorization', `Bearer ${token}`)).send(body);
};
const putBody = (key = 'in box/a+b.jpg') => minioWebhookBody({ eventName: 's3:ObjectCreated:Put', bucket: 'photos', key, size: 7, etag: 'd41d8cd98f00b204e9800998ecf8427e', contentType: 'image/jpeg', modTime: new Date('2030-01-01T00:00:00Z'), region: 'us-east-1' });

describe('POST /v1/hooks/storage/minio', () => {
  it('is off without STRATUS_MINIO_WEBHOOK_TOKEN: HOOK_NOT_CONFIGURED, whatever the admin key', async () => {
    const { app, sink } = await hook({});
    for (const res of [await post(app, putBody()), await request(app).post(PATH).set(auth).send(putBody())]) {
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ code: 'HOOK_NOT_CONFIGURED', field: 'STRATUS_MINIO_WEBHOOK_TOKEN' });
    }
    expect(sink.received).toEqual([]);
  });

  it('refuses a missing or wrong token with 401 (the admin key is not the token); nothing reaches the triggers', async () => {
    const { app, sink } = await hook();
    const missing = await post(app, putBody(), null);
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({ code: 'UNAUTHORIZED', field: 'authorization' });
    expect((await post(app, putBody(), 'wrong-token-0123456789')).body.code).toBe('UNAUTHORIZED');
    expect((await request(app).post(PATH).set(auth).send(putBody())).status).toBe(401);
    expect(sink.received).toEqual([]);
  });

  it('takes MinIO\'s event with the right token, without the admin key: keys decoded as MinIO encoded them', async () => {
    const { app, sink } = await hook();
    const res = await post(app, putBody());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ records: 1, matched: 1, queued: 1, duplicates: 0, failed: 0, unqueued: 0 });
    expect(sink.received).toEqual([[{
      source: 'minio', name: 'ObjectCreated:Put', bucket: 'photos', key: 'in box/a+b.jpg', size: 7, etag: 'd41d8cd98f00b204e9800998ecf8427e',
      time: '2030-01-01T00:00:00.000Z', sequencer: (BigInt(Date.UTC(2030, 0, 1)) * 1_000_000n).toString(16).toUpperCase(), region: 'us-east-1',
    }]]);
  });

  it('answers the HEAD probe older MinIO releases send, with the same token check', async () => {
    const { app } = await hook();
    expect((await request(app).head(PATH).set('authorization', `Bearer ${TOKEN}`)).status).toBe(200);
    expect((await request(app).head(PATH)).status).toBe(401);
  });

  it('names the field of a body that is not MinIO\'s event', async () => {
    const { app, sink } = await hook();
    const good = JSON.parse(putBody());
    const cases: Array<[unknown, string]> = [
      [{ EventName: 's3:ObjectCreated:Put', Key: 'photos/x' }, 'body.Records'],
      [{ ...good, Records: [] }, 'body.Records'],
      [{ ...good, Records: [{ ...good.Records[0], eventName: 'ObjectCreated' }] }, 'body.Records.0.eventName'],
      [{ ...good, Records: [{ ...good.Records[0], eventTime: 'yesterday' }] }, 'body.Records.0.eventTime'],
      [{ ...good, Records: [{ ...good.Records[0], s3: { ...good.Records[0].s3, object: { key: 'bad%zzkey', sequencer: '01' } } }] }, 'body.Records.0.s3.object.key'],
      [{ ...good, Records: [{ ...good.Records[0], s3: { ...good.Records[0].s3, bucket: {} } }] }, 'body.Records.0.s3.bucket.name'],
      ['not json at all', 'body'],
      [[1, 2], 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await post(app, typeof body === 'string' ? body : JSON.stringify(body));
      expect(res.status, field).toBe(400);
      expect(res.body, field).toMatchObject({ code: 'INVALID_REQUEST', field });
    }
    expect(sink.received).toEqual([]);
  });

  it('bounds the body: 413 past 256 KiB', async () => {
    const { app } = await hook();
    const res = await post(app, JSON.stringify({ Records: [], pad: 'x'.repeat(300 * 1024) }));
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers an error (so MinIO delivers again) when an invocation could not be queued', async () => {
    const { app, sink } = await hook();
    sink.answer = { matched: 2, queued: 1, duplicates: 0, failed: 0, unqueued: 1 };
    const res = await post(app, putBody());
    expect(res.status).toBe(500);
    expect(res.body.detail).toMatch(/1 of 2 matching trigger\(s\) could not queue/);
  });
});
