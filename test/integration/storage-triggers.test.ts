// Storage triggers end to end on a real platform (Docker backend, Redis, registry): a function deployed with
// three storage triggers in its config — Stratus's own storage with a suffix filter for created objects,
// the same bucket's removals, and a MinIO bucket with a prefix — is invoked for matching keys only when
// the AWS SDK v3 puts and deletes objects, and when a MinIO-format webhook (the body byte for byte as
// MinIO writes it) arrives with the right token; a wrong token is refused. What the function received
// (CloudEvent attributes and S3's event message: bucket, key, size, ETag, event name, time) is read back
// from its invocations' results; the fires are listed on GET /v1/functions/:name/triggers/:id.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import type { TriggerFire } from '../../core/store/triggers.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { minioWebhookBody } from '../support/minio-event.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing, REDIS_URL } from '../support/services.js';
import { asyncClient, removeRedisKeys } from '../support/stratus-process.js';
import { until } from '../support/until.js';

const TOKEN = 'minio-webhook-token-0123456789';
const RECEIVER = `export default async (event) => ({ type: event.type, source: event.source, subject: event.subject, time: event.time, data: event.data });`;

interface Received {
  type: string;
  source: string;
  subject: string;
  time: string;
  data: { Records: Array<{ eventSource: string; eventName: string; eventTime: string; awsRegion: string; s3: { configurationId: string; bucket: { name: string; arn: string }; object: { key: string; size?: number; eTag?: string; sequencer: string } } }> };
}

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('storage triggers (Docker, Redis, registry)', () => {
  const suffix = Date.now().toString(36);
  const name = `on-upload-${suffix}`;
  const bucket = `uploads-${suffix}`;
  const minioBucket = `minio-photos-${suffix}`;
  let stateDir: string;
  let config: Config;
  let platform: RunningPlatform;
  let s3: S3Client;
  let client: ReturnType<typeof asyncClient>;
  const ids = { created: '', removed: '', minio: '' };

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-storage-triggers-'));
    config = e2eConfig(stateDir, { STRATUS_MINIO_WEBHOOK_TOKEN: TOKEN });
    platform = await startPlatform(config, silentLogger);
    client = asyncClient(platform.url, platform.apiKey);
    const key = (await (await client.api('/v1/storage/keys', { method: 'POST' })).json()) as { accessKeyId: string; secretAccessKey: string };
    s3 = new S3Client({ endpoint: platform.storage!.url, forcePathStyle: true, region: 'us-east-1', credentials: key, maxAttempts: 1 });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));

    const triggers = [
      { type: 'storage', bucket, events: ['s3:ObjectCreated:*'], filter: { suffix: '.jpg' } },
      { type: 'storage', bucket, events: ['ObjectRemoved:*'] },
      { type: 'storage', source: 'minio', bucket: minioBucket, filter: { prefix: 'in/' } },
    ];
    const res = await deployFunction(platform, { name, runtime: 'node', triggers }, { file: 'index.mjs', content: RECEIVER });
    expect(res.status, await res.clone().text()).toBe(202);
    const deployed = (await res.json()) as { buildId: string; triggers: Array<{ id: string }> };
    [ids.created, ids.removed, ids.minio] = deployed.triggers.map((t) => t.id) as [string, string, string];
    const build = await waitForBuild(platform, deployed.buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
  }, 600_000);

  afterAll(async () => {
    s3?.destroy();
    if (platform) {
      await client.api(`/v1/functions/${name}`, { method: 'DELETE' });
      await platform.stop();
    }
    if (config) await removeRedisKeys(REDIS_URL, config.store.redisPrefix);
    if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  });

  const fires = async (id: string): Promise<TriggerFire[]> => ((await (await client.api(`/v1/functions/${name}/triggers/${id}`)).json()) as { fires: TriggerFire[] }).fires;
  const firesOf = (id: string, n: number) => until(`${n} fire(s) of trigger ${id}`, async () => ((await fires(id)).length >= n ? fires(id) : undefined), 30_000, 200);
  /** The event the function received for a fire's invocation, once it ran. */
  const received = async (fire: TriggerFire): Promise<Received> => {
    expect(fire).toMatchObject({ result: 'queued' });
    const view = await client.until(fire.invocationId!, 'succeeded', 120_000);
    expect(view.status, JSON.stringify(view)).toBe('succeeded');
    return JSON.parse(view.result!.body) as Received;
  };

  it('runs the function for created keys that match the suffix only, with S3\'s event record', async () => {
    const before = new Date().toISOString();
    const puts: Record<string, string> = {};
    for (const [key, body] of [['cat.jpg', 'meow'], ['notes.txt', 'not an image'], ['2024/tabby cat+1.jpg', 'purr purr']] as const) {
      puts[key] = (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))).ETag!.replace(/"/g, '');
    }
    const after = new Date().toISOString();
    // notes.txt matched nothing when its event came (matching is done as each event arrives, in order).
    const kept = await firesOf(ids.created, 2);
    expect(kept.map((f) => f.key).sort()).toEqual(['2024/tabby cat+1.jpg', 'cat.jpg']);
    expect(await fires(ids.removed)).toEqual([]);

    for (const fire of kept) {
      const event = await received(fire);
      const key = fire.key!;
      expect(event).toMatchObject({ type: 'dev.stratus.storage.ObjectCreated:Put', source: `/storage/${bucket}` });
      const [record] = event.data.Records;
      expect(record).toMatchObject({
        eventSource: 'stratus:s3', eventName: 'ObjectCreated:Put', awsRegion: 'us-east-1',
        s3: { configurationId: ids.created, bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` }, object: { size: Buffer.byteLength(key === 'cat.jpg' ? 'meow' : 'purr purr'), eTag: puts[key] } },
      });
      expect(record!.eventTime >= before && record!.eventTime <= after, record!.eventTime).toBe(true);
      expect(event.time).toBe(record!.eventTime);
      expect(decodeURIComponent(record!.s3.object.key.replace(/\+/g, ' '))).toBe(key);
    }
    const spaced = await received(kept.find((f) => f.key === '2024/tabby cat+1.jpg')!);
    expect(spaced.data.Records[0]!.s3.object.key).toBe('2024/tabby+cat%2B1.jpg');
    expect(spaced.subject).toBe('2024/tabby%20cat+1.jpg');

    const records = await client.records(name, '&trigger=storage');
    expect(records.map((r) => r.id).sort()).toEqual(kept.map((f) => f.invocationId).sort());
  });

  it('runs the ObjectRemoved trigger on a delete', async () => {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'notes.txt' }));
    const [fire] = await firesOf(ids.removed, 1);
    expect(fire!.key).toBe('notes.txt');
    const event = await received(fire!);
    expect(event.type).toBe('dev.stratus.storage.ObjectRemoved:Delete');
    expect(event.data.Records[0]).toMatchObject({ eventName: 'ObjectRemoved:Delete', s3: { configurationId: ids.removed, object: { key: 'notes.txt' } } });
    expect(event.data.Records[0]!.s3.object).not.toHaveProperty('size');
  });

  it('takes a MinIO webhook with the right token (once, however often it is delivered) and refuses a wrong one', async () => {
    const hook = (body: string, token: string) => fetch(`${platform.url}/v1/hooks/storage/minio`, { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
    const body = minioWebhookBody({ eventName: 's3:ObjectCreated:Put', bucket: minioBucket, key: 'in/sunset beach.png', size: 2048, etag: '9b2cf535f27731c974343645a3985328', contentType: 'image/png', region: 'us-east-1' });

    const wrong = await hook(body, 'not-the-token-0123456789');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await fires(ids.minio)).toEqual([]);

    const first = await hook(body, TOKEN);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ records: 1, matched: 1, queued: 1, duplicates: 0 });
    const again = await hook(body, TOKEN);
    expect(await again.json()).toMatchObject({ matched: 1, queued: 0, duplicates: 1 });
    const outside = await hook(minioWebhookBody({ eventName: 's3:ObjectCreated:Put', bucket: minioBucket, key: 'out/x.png', size: 1, etag: 'e' }), TOKEN);
    expect(await outside.json()).toMatchObject({ matched: 0, queued: 0 });

    const kept = await fires(ids.minio);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ key: 'in/sunset beach.png', result: 'queued' });
    const event = await received(kept[0]!);
    expect(event).toMatchObject({ type: 'dev.stratus.storage.ObjectCreated:Put', source: `/minio/${minioBucket}`, subject: 'in/sunset%20beach.png' });
    expect(event.data.Records[0]).toMatchObject({
      eventSource: 'minio:s3', eventName: 'ObjectCreated:Put', awsRegion: 'us-east-1',
      s3: { configurationId: ids.minio, bucket: { name: minioBucket }, object: { key: 'in/sunset+beach.png', size: 2048, eTag: '9b2cf535f27731c974343645a3985328' } },
    });
  });
});
