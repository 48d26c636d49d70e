// The object storage's limits (issue 15, item 6) driven by the AWS SDK v3 and curl against a real platform
// on 127.0.0.1 (memory store, process backend): keys scoped to buckets and rights — refused outside them
// (read, write and listing), allowed inside, a read-only key that cannot write or delete — bad scopes
// answered 400 naming the field, a multipart upload refused at the part that crosses the object size limit
// (raw parts and lib-storage's concurrent ones), and a bucket quota that refuses, gives room back on
// delete and abort, and holds across a restart.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  AbortMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand,
  HeadBucketCommand, HeadObjectCommand, ListBucketsCommand, ListObjectsV2Command, ListPartsCommand, PutObjectCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { s3Client, s3Error } from '../support/s3-client.js';
import { presignUrl, type TestKey } from '../support/s3-sign.js';

const MiB = 1024 * 1024;
let stateDir: string;
let platform: RunningPlatform;
let endpoint: string;
let adminKey: TestKey;
let admin: S3Client;
const clients: S3Client[] = [];

const env = () => ({ STRATUS_PORT: '0', STRATUS_STATE_DIR: stateDir, STRATUS_API_KEY: 'test-key-0123456789abcdef', STRATUS_STORE: 'memory', STRATUS_BACKEND: 'process', STRATUS_S3_MAX_OBJECT_MB: '12', STRATUS_S3_BUCKET_QUOTA_MB: '16' });
const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, ...init.headers } });
const issue = (body?: unknown) => api('/v1/storage/keys', { method: 'POST', ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });

async function keyWith(scope: unknown): Promise<{ key: TestKey & { scope: unknown }; s3: S3Client }> {
  const res = await issue({ scope });
  expect(res.status).toBe(201);
  const key = (await res.json()) as TestKey & { scope: unknown };
  const s3 = s3Client(endpoint, key);
  clients.push(s3);
  return { key, s3 };
}

/** Refused with 403 AccessDenied (a HEAD answer has no body to carry the code: its status alone). */
const denied = async (p: Promise<unknown>, head = false) => {
  const err = await s3Error(p);
  expect(err.$metadata.httpStatusCode, `${err.name}: ${err.message}`).toBe(403);
  if (!head) expect(err.name).toBe('AccessDenied');
};

async function curl(url: string): Promise<{ status: number; body: string }> {
  const out = await new Promise<string>((resolve, reject) => execFile('curl', ['-s', '--noproxy', '*', '-w', '\n%{http_code}', url], { encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
  const at = out.lastIndexOf('\n');
  return { status: Number(out.slice(at + 1)), body: out.slice(0, at) };
}

async function start(): Promise<void> {
  platform = await startPlatform(loadConfig(env()), silentLogger);
  endpoint = platform.storage!.url;
}

beforeAll(async () => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-s3-limits-'));
  await start();
  const res = await issue();
  expect(res.status).toBe(201);
  const full = (await res.json()) as TestKey & { scope: unknown };
  // No scope asked: every bucket and right, and the answer says so.
  expect(full.scope).toEqual({ buckets: ['*'], access: ['read', 'write', 'manage'] });
  adminKey = full;
  admin = s3Client(endpoint, full);
  clients.push(admin);
  for (const b of ['team-a', 'team-b', 'shared', 'private']) {
    await admin.send(new CreateBucketCommand({ Bucket: b }));
    await admin.send(new PutObjectCommand({ Bucket: b, Key: 'doc.txt', Body: `in ${b}` }));
  }
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await platform?.stop();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

describe('scoped keys', () => {
  it('are refused outside their buckets (read, write and listing) and allowed inside them', async () => {
    const { key, s3 } = await keyWith({ buckets: ['team-*', 'shared'], access: ['read', 'write'] });
    expect(key.scope).toEqual({ buckets: ['team-*', 'shared'], access: ['read', 'write'] });
    const listed = (await (await api('/v1/storage/keys')).json()) as { keys: { accessKeyId: string; scope: unknown }[] };
    expect(listed.keys.find((k) => k.accessKeyId === key.accessKeyId)?.scope).toEqual(key.scope);

    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toEqual(['shared', 'team-a', 'team-b']);
    // Outside: every read, write and listing, and a bucket that does not exist answers the same (no probing).
    await denied(s3.send(new GetObjectCommand({ Bucket: 'private', Key: 'doc.txt' })));
    await denied(s3.send(new HeadObjectCommand({ Bucket: 'private', Key: 'doc.txt' })), true);
    await denied(s3.send(new ListObjectsV2Command({ Bucket: 'private' })));
    await denied(s3.send(new HeadBucketCommand({ Bucket: 'private' })), true);
    await denied(s3.send(new PutObjectCommand({ Bucket: 'private', Key: 'x', Body: 'x' })));
    await denied(s3.send(new DeleteObjectCommand({ Bucket: 'private', Key: 'doc.txt' })));
    await denied(s3.send(new DeleteObjectsCommand({ Bucket: 'private', Delete: { Objects: [{ Key: 'doc.txt' }] } })));
    await denied(s3.send(new CreateMultipartUploadCommand({ Bucket: 'private', Key: 'm' })));
    await denied(s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'a' })));
    await denied(s3.send(new CopyObjectCommand({ Bucket: 'team-a', Key: 'stolen', CopySource: 'private/doc.txt' })));
    // Buckets are created and deleted with `manage` only.
    await denied(s3.send(new CreateBucketCommand({ Bucket: 'team-c' })));
    await denied(s3.send(new DeleteBucketCommand({ Bucket: 'team-b' })));
    const presigned = await curl(await presignUrl(endpoint, key, 'GET', '/private/doc.txt', 300));
    expect(presigned.status).toBe(403);
    expect(presigned.body).toContain('<Code>AccessDenied</Code>');
    expect(presigned.body).not.toContain('in private');

    // Inside: all of it works.
    await s3.send(new PutObjectCommand({ Bucket: 'team-a', Key: 'new.txt', Body: 'fresh' }));
    expect(await (await s3.send(new GetObjectCommand({ Bucket: 'team-a', Key: 'new.txt' }))).Body!.transformToString()).toBe('fresh');
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'team-b' }))).Contents?.map((c) => c.Key)).toEqual(['doc.txt']);
    await s3.send(new HeadBucketCommand({ Bucket: 'team-b' }));
    await s3.send(new CopyObjectCommand({ Bucket: 'team-a', Key: 'copied.txt', CopySource: 'shared/doc.txt' }));
    await new Upload({ client: s3, params: { Bucket: 'team-b', Key: 'big.bin', Body: Buffer.alloc(6 * MiB, 3) }, partSize: 5 * MiB }).done();
    await s3.send(new DeleteObjectsCommand({ Bucket: 'team-a', Delete: { Objects: [{ Key: 'new.txt' }, { Key: 'copied.txt' }] } }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'team-b', Key: 'big.bin' }));
    expect((await curl(await presignUrl(endpoint, key, 'GET', '/shared/doc.txt', 300))).body).toBe('in shared');
    // Nothing outside was touched.
    expect(await (await admin.send(new GetObjectCommand({ Bucket: 'private', Key: 'doc.txt' }))).Body!.transformToString()).toBe('in private');
    expect((await admin.send(new ListObjectsV2Command({ Bucket: 'private' }))).KeyCount).toBe(1);
  });

  it('cannot write or delete when read-only', async () => {
    const { s3 } = await keyWith({ buckets: ['shared'], access: ['read'] });
    expect(await (await s3.send(new GetObjectCommand({ Bucket: 'shared', Key: 'doc.txt' }))).Body!.transformToString()).toBe('in shared');
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'shared' }))).KeyCount).toBe(1);
    await denied(s3.send(new PutObjectCommand({ Bucket: 'shared', Key: 'doc.txt', Body: 'overwritten' })));
    await denied(s3.send(new DeleteObjectCommand({ Bucket: 'shared', Key: 'doc.txt' })));
    await denied(s3.send(new DeleteObjectsCommand({ Bucket: 'shared', Delete: { Objects: [{ Key: 'doc.txt' }] } })));
    await denied(s3.send(new CopyObjectCommand({ Bucket: 'shared', Key: 'doc2.txt', CopySource: 'shared/doc.txt' })));
    await denied(s3.send(new CreateMultipartUploadCommand({ Bucket: 'shared', Key: 'm' })));
    await denied(s3.send(new DeleteBucketCommand({ Bucket: 'shared' })));
    expect(await (await admin.send(new GetObjectCommand({ Bucket: 'shared', Key: 'doc.txt' }))).Body!.transformToString()).toBe('in shared');
  });

  it('can upload but not read when write-only, and manage only the buckets its pattern names', async () => {
    const { s3: writer } = await keyWith({ buckets: ['team-a'], access: ['write'] });
    await writer.send(new PutObjectCommand({ Bucket: 'team-a', Key: 'drop.txt', Body: 'dropped' }));
    await denied(writer.send(new GetObjectCommand({ Bucket: 'team-a', Key: 'drop.txt' })));
    await denied(writer.send(new ListObjectsV2Command({ Bucket: 'team-a' })));
    await writer.send(new DeleteObjectCommand({ Bucket: 'team-a', Key: 'drop.txt' }));

    const { s3: manager } = await keyWith({ buckets: ['proj-*'], access: ['manage'] });
    await manager.send(new CreateBucketCommand({ Bucket: 'proj-1' }));
    await denied(manager.send(new CreateBucketCommand({ Bucket: 'other-1' })));
    await denied(manager.send(new PutObjectCommand({ Bucket: 'proj-1', Key: 'x', Body: 'x' })));
    expect((await manager.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toEqual(['proj-1']);
    await manager.send(new DeleteBucketCommand({ Bucket: 'proj-1' }));
  });

  it('answers a scope that is wrong with 400 problem+json naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ scope: { buckets: ['Bad_Name'], access: ['read'] } }, 'body.scope.buckets.0'],
      [{ scope: { buckets: ['photos'], access: ['admin'] } }, 'body.scope.access.0'],
      [{ scope: { buckets: [], access: ['read'] } }, 'body.scope.buckets'],
      [{ scope: { buckets: ['photos'] } }, 'body.scope.access'],
      [{ scope: { buckets: ['photos'], access: ['read'], keys: 'a/*' } }, 'body.scope.keys'],
      [{ buckets: ['photos'] }, 'body.buckets'],
    ];
    for (const [body, field] of cases) {
      const res = await issue(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await res.json()).toMatchObject({ code: 'INVALID_REQUEST', field });
    }
    // A scope in a body that is not JSON is not quietly dropped (which would issue a key for everything).
    const text = await api('/v1/storage/keys', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'scope=photos' });
    expect(text.status).toBe(400);
    expect(await text.json()).toMatchObject({ code: 'INVALID_REQUEST', field: 'body' });
  });
});

describe('multipart bounds and quotas', () => {
  it('refuses the part that takes a multipart upload past the object size limit', async () => {
    await admin.send(new CreateBucketCommand({ Bucket: 'parts' }));
    const { UploadId } = await admin.send(new CreateMultipartUploadCommand({ Bucket: 'parts', Key: 'big.bin' }));
    const part = (n: number, size: number) => admin.send(new UploadPartCommand({ Bucket: 'parts', Key: 'big.bin', UploadId, PartNumber: n, Body: Buffer.alloc(size, n) }));
    await part(1, 5 * MiB);
    await part(2, 5 * MiB);
    const err = await s3Error(part(3, 5 * MiB)); // 15 MiB > 12 MiB: this one crosses
    expect(err.name).toBe('EntityTooLarge');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect((await admin.send(new ListPartsCommand({ Bucket: 'parts', Key: 'big.bin', UploadId }))).Parts?.map((p) => p.PartNumber)).toEqual([1, 2]);
    await part(3, 2 * MiB); // up to the limit exactly
    await admin.send(new AbortMultipartUploadCommand({ Bucket: 'parts', Key: 'big.bin', UploadId }));

    // lib-storage sends its parts four at a time: the upload fails at the crossing part and is aborted.
    const upload = new Upload({ client: admin, params: { Bucket: 'parts', Key: 'huge.bin', Body: Buffer.alloc(30 * MiB, 7) }, partSize: 5 * MiB, queueSize: 4 });
    const failed = await upload.done().then(() => null, (e: unknown) => e as Error);
    expect(failed?.name).toBe('EntityTooLarge');
    expect((await s3Error(admin.send(new HeadObjectCommand({ Bucket: 'parts', Key: 'huge.bin' })))).$metadata.httpStatusCode).toBe(404);
    expect(fs.readdirSync(path.join(platform.storage!.root, 'uploads'))).toEqual([]);
    expect(fs.readdirSync(path.join(platform.storage!.root, 'tmp'))).toEqual([]);
    await admin.send(new DeleteBucketCommand({ Bucket: 'parts' }));
  });

  it('refuses a write past the bucket quota, gives the room back on delete and abort, and keeps the count across a restart', async () => {
    await admin.send(new CreateBucketCommand({ Bucket: 'quota' }));
    for (const k of ['a', 'b', 'c']) await admin.send(new PutObjectCommand({ Bucket: 'quota', Key: k, Body: Buffer.alloc(5 * MiB) }));
    const full = await s3Error(admin.send(new PutObjectCommand({ Bucket: 'quota', Key: 'd', Body: Buffer.alloc(2 * MiB) })));
    expect(full.name).toBe('QuotaExceeded');
    expect(full.$metadata.httpStatusCode).toBe(403);
    expect(full.message).toContain('STRATUS_S3_BUCKET_QUOTA_MB');
    expect((await s3Error(admin.send(new CopyObjectCommand({ Bucket: 'quota', Key: 'a2', CopySource: 'quota/a' })))).name).toBe('QuotaExceeded');
    // Another bucket has a quota of its own.
    await admin.send(new PutObjectCommand({ Bucket: 'team-b', Key: 'five', Body: Buffer.alloc(5 * MiB) }));
    await admin.send(new DeleteObjectCommand({ Bucket: 'team-b', Key: 'five' }));

    await admin.send(new DeleteObjectCommand({ Bucket: 'quota', Key: 'a' }));
    await admin.send(new PutObjectCommand({ Bucket: 'quota', Key: 'd', Body: Buffer.alloc(MiB) }));
    // Parts count as they arrive, and an abort gives them back.
    const { UploadId } = await admin.send(new CreateMultipartUploadCommand({ Bucket: 'quota', Key: 'm' }));
    await admin.send(new UploadPartCommand({ Bucket: 'quota', Key: 'm', UploadId, PartNumber: 1, Body: Buffer.alloc(5 * MiB) }));
    expect((await s3Error(admin.send(new PutObjectCommand({ Bucket: 'quota', Key: 'e', Body: Buffer.alloc(MiB) })))).name).toBe('QuotaExceeded');
    await admin.send(new AbortMultipartUploadCommand({ Bucket: 'quota', Key: 'm', UploadId }));
    await admin.send(new PutObjectCommand({ Bucket: 'quota', Key: 'e', Body: Buffer.alloc(MiB) }));
    expect(platform.storage!.usage.usedIn('quota')).toBe(12 * MiB);

    // After a restart the count starts from the disk: 12 MiB held, 4 MiB more fit and 5 do not.
    await platform.stop();
    await start();
    const again = s3Client(endpoint, adminKey); // the key is on disk too
    clients.push(again);
    expect(platform.storage!.usage.usedIn('quota')).toBe(12 * MiB);
    expect((await s3Error(again.send(new PutObjectCommand({ Bucket: 'quota', Key: 'f', Body: Buffer.alloc(5 * MiB) })))).name).toBe('QuotaExceeded');
    await again.send(new PutObjectCommand({ Bucket: 'quota', Key: 'f', Body: Buffer.alloc(4 * MiB) }));
  });
});
