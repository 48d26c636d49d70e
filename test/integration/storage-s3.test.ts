// The S3-compatible object storage (issue 8, item 2) driven by the AWS SDK for JavaScript v3 against a
// real platform on 127.0.0.1 (memory store, process backend: no Docker needed): a key issued with
// POST /v1/storage/keys, path-style addressing, every operation the issue lists, multipart through
// lib-storage, presigned URLs fetched with curl, refusals (wrong secret, expired URL, skewed clock,
// tampered body), hostile keys, a client cut off mid-upload, and the object events.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, UploadPartCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand,
  HeadBucketCommand, HeadObjectCommand, ListBucketsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { keyFileName } from '../../services/storage/names.js';
import { presignUrl, signedHeaders, type TestKey } from '../support/s3-sign.js';
import { until } from '../support/until.js';
import type { StorageEvent } from '../../core/ports/storage-events.js';

let stateDir: string;
let platform: RunningPlatform;
let endpoint: string;
let key: TestKey;
let s3: S3Client;
const events: StorageEvent[] = [];

const client = (k: TestKey) => new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: k, maxAttempts: 1 });
const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, ...init.headers } });

async function s3Error(p: Promise<unknown>): Promise<S3ServiceException> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err, 'the request should have failed').toBeInstanceOf(S3ServiceException);
  return err as S3ServiceException;
}

/** curl as a separate process (async: the server answers from this same process); no proxy for loopback. */
async function curl(url: string): Promise<{ status: number; body: string }> {
  const out = await new Promise<string>((resolve, reject) => execFile('curl', ['-s', '--noproxy', '*', '-w', '\n%{http_code}', url], { encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
  const at = out.lastIndexOf('\n');
  return { status: Number(out.slice(at + 1)), body: out.slice(0, at) };
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name));
}

beforeAll(async () => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-s3-'));
  platform = await startPlatform(loadConfig({ STRATUS_PORT: '0', STRATUS_STATE_DIR: stateDir, STRATUS_API_KEY: 'test-key-0123456789abcdef', STRATUS_STORE: 'memory', STRATUS_BACKEND: 'process', STRATUS_S3_MAX_OBJECT_MB: '64' }), silentLogger);
  expect(platform.storage).not.toBeNull();
  endpoint = platform.storage!.url;
  platform.storage!.events.onObject((e) => events.push(e));
  const res = await api('/v1/storage/keys', { method: 'POST' });
  expect(res.status).toBe(201);
  key = (await res.json()) as TestKey;
  s3 = client(key);
});

afterAll(async () => {
  s3?.destroy();
  await platform?.stop();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

describe('S3 API with the AWS SDK v3', () => {
  it('creates a bucket, puts, lists with a delimiter, gets a range, copies and deletes', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'photos' }));
    expect((await s3Error(s3.send(new CreateBucketCommand({ Bucket: 'photos' })))).name).toBe('BucketAlreadyOwnedByYou');
    await s3.send(new HeadBucketCommand({ Bucket: 'photos' }));
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toContain('photos');

    const put = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: '2024/jan/a.txt', Body: 'hello, world', ContentType: 'text/plain', Metadata: { owner: 'ana' } }));
    expect(put.ETag).toBe(`"${createHash('md5').update('hello, world').digest('hex')}"`);
    // A stream body: the SDK sends it aws-chunked (STREAMING-UNSIGNED-PAYLOAD-TRAILER) with a CRC32 trailer.
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: '2024/feb/b.txt', Body: Readable.from([Buffer.from('streamed '), Buffer.from('body')]), ContentLength: 13 }));
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'top.txt', Body: Buffer.from('top') }));

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Delimiter: '/' }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(['top.txt']);
    expect(listed.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['2024/']);
    const inYear = await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Prefix: '2024/', Delimiter: '/' }));
    expect(inYear.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['2024/feb/', '2024/jan/']);
    // Paging: one key per page, following the continuation token to the end.
    const pages: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'photos', MaxKeys: 1, ContinuationToken: token }));
      pages.push(...(page.Contents ?? []).map((c) => c.Key!));
      token = page.NextContinuationToken;
      expect(page.IsTruncated).toBe(token !== undefined);
    } while (token);
    expect(pages).toEqual(['2024/feb/b.txt', '2024/jan/a.txt', 'top.txt']);

    const range = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: '2024/jan/a.txt', Range: 'bytes=7-11' }));
    expect(range.ContentRange).toBe('bytes 7-11/12');
    expect(await range.Body!.transformToString()).toBe('world');
    expect(await (await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: '2024/feb/b.txt' }))).Body!.transformToString()).toBe('streamed body');
    expect((await s3Error(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'top.txt', Range: 'bytes=50-' })))).name).toBe('InvalidRange');

    await s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'copy.txt', CopySource: 'photos/2024/jan/a.txt' }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'copy.txt' }));
    expect(head).toMatchObject({ ContentType: 'text/plain', ContentLength: 12, Metadata: { owner: 'ana' }, ETag: put.ETag });

    expect((await s3Error(s3.send(new DeleteBucketCommand({ Bucket: 'photos' })))).name).toBe('BucketNotEmpty');
    await s3.send(new DeleteObjectCommand({ Bucket: 'photos', Key: 'copy.txt' }));
    expect((await s3Error(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'copy.txt' })))).name).toBe('NoSuchKey');
    const many = await s3.send(new DeleteObjectsCommand({ Bucket: 'photos', Delete: { Objects: [{ Key: '2024/jan/a.txt' }, { Key: '2024/feb/b.txt' }, { Key: 'top.txt' }] } }));
    expect(many.Deleted?.map((d) => d.Key).sort()).toEqual(['2024/feb/b.txt', '2024/jan/a.txt', 'top.txt']);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'photos' }))).KeyCount).toBe(0);
    await s3.send(new DeleteBucketCommand({ Bucket: 'photos' }));
    expect((await s3Error(s3.send(new HeadBucketCommand({ Bucket: 'photos' })))).$metadata.httpStatusCode).toBe(404);
    expect((await s3Error(s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'x', Body: 'x' })))).name).toBe('NoSuchBucket');
    expect((await s3Error(s3.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })))).name).toBe('InvalidBucketName');
  });

  it('uploads a 20 MB object in parts with lib-storage and reads it back whole', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'big' }));
    const data = Buffer.alloc(20 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
    const upload = new Upload({ client: s3, params: { Bucket: 'big', Key: 'blob.bin', Body: Readable.from([data.subarray(0, 7_000_000), data.subarray(7_000_000)]) }, partSize: 5 * 1024 * 1024, queueSize: 2 });
    const done = await upload.done();
    expect(done.ETag).toMatch(/^"[0-9a-f]{32}-4"$/);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'big', Key: 'blob.bin' }));
    expect(got.ContentLength).toBe(data.length);
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    // Nothing of the upload is left behind: no parts, no temp files.
    expect(fs.readdirSync(path.join(platform.storage!.root, 'uploads'))).toEqual([]);
    expect(fs.readdirSync(path.join(platform.storage!.root, 'tmp'))).toEqual([]);
  });
  it('checks the part list at Complete and forgets an aborted upload', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'parts' }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'parts', Key: 'p.bin' }));
    const small = await s3.send(new UploadPartCommand({ Bucket: 'parts', Key: 'p.bin', UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 1) }));
    const last = await s3.send(new UploadPartCommand({ Bucket: 'parts', Key: 'p.bin', UploadId, PartNumber: 2, Body: Buffer.alloc(10, 2) }));
    const complete = (Parts: { PartNumber: number; ETag: string }[]) => s3.send(new CompleteMultipartUploadCommand({ Bucket: 'parts', Key: 'p.bin', UploadId, MultipartUpload: { Parts } }));
    expect((await s3Error(complete([{ PartNumber: 1, ETag: last.ETag! }]))).name).toBe('InvalidPart');
    expect((await s3Error(complete([{ PartNumber: 3, ETag: last.ETag! }]))).name).toBe('InvalidPart');
    expect((await s3Error(complete([{ PartNumber: 2, ETag: last.ETag! }, { PartNumber: 1, ETag: small.ETag! }]))).name).toBe('InvalidPartOrder');
    expect((await s3Error(complete([{ PartNumber: 1, ETag: small.ETag! }, { PartNumber: 2, ETag: last.ETag! }]))).name).toBe('EntityTooSmall');
    // A bucket with an unfinished upload is not empty; nothing is visible until Complete.
    expect((await s3Error(s3.send(new DeleteBucketCommand({ Bucket: 'parts' })))).name).toBe('BucketNotEmpty');
    expect((await s3Error(s3.send(new HeadObjectCommand({ Bucket: 'parts', Key: 'p.bin' })))).$metadata.httpStatusCode).toBe(404);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'parts', Key: 'p.bin', UploadId }));
    expect((await s3Error(s3.send(new UploadPartCommand({ Bucket: 'parts', Key: 'p.bin', UploadId, PartNumber: 3, Body: 'x' })))).name).toBe('NoSuchUpload');
    expect((await s3Error(complete([{ PartNumber: 2, ETag: last.ETag! }]))).name).toBe('NoSuchUpload');
    await s3.send(new DeleteBucketCommand({ Bucket: 'parts' }));
  });

  it('refuses an object over STRATUS_S3_MAX_OBJECT_MB before reading it', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'limits' }));
    const err = await s3Error(s3.send(new PutObjectCommand({ Bucket: 'limits', Key: 'huge', Body: Buffer.alloc(65 * 1024 * 1024) })));
    expect(err.name).toBe('EntityTooLarge');
    expect(fs.readdirSync(path.join(platform.storage!.root, 'buckets', 'limits', 'data'))).toEqual([]);
  });
});

describe('signatures and presigned URLs', () => {
  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'signed' }));
    await s3.send(new PutObjectCommand({ Bucket: 'signed', Key: 'doc one.txt', Body: 'presigned content' }));
  });

  it('serves a presigned GET URL to curl', async () => {
    const res = await curl(await presignUrl(endpoint, key, 'GET', '/signed/doc%20one.txt', 300));
    expect(res).toEqual({ status: 200, body: 'presigned content' });
  });

  it('serves curl signing on its own (--aws-sigv4), another client than the SDK', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile('curl', ['-s', '--noproxy', '*', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${key.accessKeyId}:${key.secretAccessKey}`, `${endpoint}/signed/doc%20one.txt`], { encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    expect(out).toBe('presigned content');
  });

  it('refuses an expired presigned URL with AccessDenied', async () => {
    const url = await presignUrl(endpoint, key, 'GET', '/signed/doc%20one.txt', 60, new Date(Date.now() - 120_000));
    const res = await curl(url);
    expect(res.status).toBe(403);
    expect(res.body).toContain('<Code>AccessDenied</Code>');
    expect(res.body).toContain('Request has expired');
  });

  it('refuses a presigned URL whose path was changed', async () => {
    const url = (await presignUrl(endpoint, key, 'GET', '/signed/doc%20one.txt', 300)).replace('doc%20one', 'doc%20two');
    expect((await curl(url)).body).toContain('<Code>SignatureDoesNotMatch</Code>');
  });

  it('refuses a wrong secret, an unknown key, a revoked key, an unsigned request', async () => {
    const wrong = client({ accessKeyId: key.accessKeyId, secretAccessKey: `${key.secretAccessKey.slice(0, -1)}x` });
    expect((await s3Error(wrong.send(new ListBucketsCommand({})))).name).toBe('SignatureDoesNotMatch');
    expect((await s3Error(wrong.send(new PutObjectCommand({ Bucket: 'signed', Key: 'w', Body: 'w' })))).name).toBe('SignatureDoesNotMatch');
    const unknown = client({ accessKeyId: 'STRANOPE', secretAccessKey: key.secretAccessKey });
    expect((await s3Error(unknown.send(new ListBucketsCommand({})))).name).toBe('InvalidAccessKeyId');
    const unsigned = await fetch(`${endpoint}/`);
    expect(unsigned.status).toBe(403);
    expect(await unsigned.text()).toContain('<Code>AccessDenied</Code>');

    const issued = (await (await api('/v1/storage/keys', { method: 'POST' })).json()) as TestKey;
    const other = client(issued);
    await other.send(new ListBucketsCommand({}));
    expect((await api(`/v1/storage/keys/${issued.accessKeyId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await s3Error(other.send(new ListBucketsCommand({})))).name).toBe('InvalidAccessKeyId');
    expect((await api(`/v1/storage/keys/${issued.accessKeyId}`, { method: 'DELETE' })).status).toBe(404);
    // The key list names ids only; the keys file on disk holds no secret in the clear.
    const list = await (await api('/v1/storage/keys')).text();
    expect(list).toContain(key.accessKeyId);
    expect(list).not.toContain(key.secretAccessKey);
    expect(fs.readFileSync(path.join(platform.storage!.root, 'access-keys.json'), 'utf8')).not.toContain(key.secretAccessKey);
    expect((await fetch(`${platform.url}/v1/storage/keys`, { method: 'POST' })).status).toBe(401);
  });

  it('refuses a request signed 20 minutes ago (clock skew) and a body that does not match its signed hash', async () => {
    const pathName = '/signed/skewed';
    const old = await signedHeaders(endpoint, key, 'GET', pathName, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, new Date(Date.now() - 20 * 60_000));
    const skewed = await fetch(`${endpoint}${pathName}`, { headers: old });
    expect(skewed.status).toBe(403);
    expect(await skewed.text()).toContain('<Code>RequestTimeTooSkewed</Code>');

    const claimed = createHash('sha256').update('the signed body').digest('hex');
    const headers = await signedHeaders(endpoint, key, 'PUT', '/signed/tampered', { 'x-amz-content-sha256': claimed, 'content-length': '15' });
    const tampered = await fetch(`${endpoint}/signed/tampered`, { method: 'PUT', headers, body: 'another body!!!' });
    expect(await tampered.text()).toContain('<Code>XAmzContentSHA256Mismatch</Code>');
    expect((await s3Error(s3.send(new HeadObjectCommand({ Bucket: 'signed', Key: 'tampered' })))).$metadata.httpStatusCode).toBe(404);
  });
});

describe('keys, crashes and events', () => {
  it('keeps a hostile key inside the storage directory', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'hostile' }));
    const keys = ['../../etc/passwd', '/etc/shadow', `a${'/..'.repeat(200)}`, 'nul\u0000byte', 'é'.repeat(500)];
    for (const k of keys) await s3.send(new PutObjectCommand({ Bucket: 'hostile', Key: k, Body: `content of ${k.length}` }));
    for (const k of keys) expect(await (await s3.send(new GetObjectCommand({ Bucket: 'hostile', Key: k }))).Body!.transformToString()).toBe(`content of ${k.length}`);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'hostile' }))).Contents?.map((c) => c.Key).sort()).toEqual([...keys].sort());
    expect((await s3Error(s3.send(new PutObjectCommand({ Bucket: 'hostile', Key: 'k'.repeat(1025), Body: 'x' })))).name).toBe('KeyTooLongError');
    // Every file of the bucket is a hashed or random name inside it; nothing was written beside the state dir.
    const bucketDir = path.join(platform.storage!.root, 'buckets', 'hostile');
    for (const f of filesUnder(bucketDir)) expect(path.relative(bucketDir, f)).toMatch(/^(bucket\.json|meta\/[0-9a-f]{64}\.json|data\/[0-9a-f-]{36})$/);
    expect(fs.existsSync(path.join(platform.storage!.root, 'etc'))).toBe(false);
    expect(fs.existsSync(path.join(stateDir, '..', 'etc', 'passwd'))).toBe(false);
    expect(filesUnder(stateDir).every((f) => f.startsWith(`${stateDir}${path.sep}`))).toBe(true);
  });

  it('leaves no object when the client goes away halfway through an upload', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'crash' }));
    await s3.send(new PutObjectCommand({ Bucket: 'crash', Key: 'kept', Body: 'the old content' }));
    const url = new URL(endpoint);
    for (const k of ['fresh', 'kept']) {
      const size = 4 * 1024 * 1024;
      const headers = await signedHeaders(endpoint, key, 'PUT', `/crash/${k}`, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(size) });
      const req = http.request({ host: url.hostname, port: url.port, method: 'PUT', path: `/crash/${k}`, headers });
      req.on('error', () => {});
      req.write(Buffer.alloc(size / 2, 7));
      // The server has started writing the temp file before the client disappears.
      await until('the upload to reach a temp file', () => (fs.readdirSync(path.join(platform.storage!.root, 'tmp')).length > 0 ? true : undefined));
      req.destroy();
      await until('the temp file to be removed', () => (fs.readdirSync(path.join(platform.storage!.root, 'tmp')).length === 0 ? true : undefined));
    }
    expect((await s3Error(s3.send(new HeadObjectCommand({ Bucket: 'crash', Key: 'fresh' })))).$metadata.httpStatusCode).toBe(404);
    expect(await (await s3.send(new GetObjectCommand({ Bucket: 'crash', Key: 'kept' }))).Body!.transformToString()).toBe('the old content');
    expect(fs.readdirSync(path.join(platform.storage!.root, 'buckets', 'crash', 'data'))).toHaveLength(1);
  });

  it('emits ObjectCreated:Put, :Copy, :CompleteMultipartUpload and ObjectRemoved:Delete after each write', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'events' }));
    const from = events.length;
    // At each announcement the change is already on disk: the metadata file is there (or gone, for a removal).
    const onDisk: boolean[] = [];
    const off = platform.storage!.events.onObject((e) => {
      const meta = path.join(platform.storage!.root, 'buckets', e.bucket, 'meta', `${keyFileName(e.key)}.json`);
      onDisk.push(fs.existsSync(meta) === e.name.startsWith('ObjectCreated'));
    });
    await s3.send(new PutObjectCommand({ Bucket: 'events', Key: 'in/a.csv', Body: 'a,b' }));
    await s3.send(new CopyObjectCommand({ Bucket: 'events', Key: 'in/b.csv', CopySource: 'events/in/a.csv' }));
    await new Upload({ client: s3, params: { Bucket: 'events', Key: 'in/c.bin', Body: Buffer.alloc(6 * 1024 * 1024, 1) }, partSize: 5 * 1024 * 1024 }).done();
    await s3.send(new DeleteObjectCommand({ Bucket: 'events', Key: 'in/a.csv' }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'events', Key: 'never-there' }));
    off();
    expect(onDisk).toEqual([true, true, true, true]);
    const seen = events.slice(from);
    expect(seen.map((e) => [e.name, e.key])).toEqual([
      ['ObjectCreated:Put', 'in/a.csv'],
      ['ObjectCreated:Copy', 'in/b.csv'],
      ['ObjectCreated:CompleteMultipartUpload', 'in/c.bin'],
      ['ObjectRemoved:Delete', 'in/a.csv'],
    ]);
    const md5 = createHash('md5').update('a,b').digest('hex');
    expect(seen[0]).toMatchObject({ bucket: 'events', size: 3, etag: md5 });
    expect(seen[1]).toMatchObject({ size: 3, etag: md5 });
    expect(seen[2]).toMatchObject({ size: 6 * 1024 * 1024, etag: expect.stringMatching(/^[0-9a-f]{32}-2$/) });
    expect(Date.parse(seen[3]!.time)).not.toBeNaN();
  });
});
