// Real S3 clients against Stratus's S3 endpoint on 127.0.0.1 (path-style), uploads checked byte for byte:
// the AWS SDK for JavaScript v3 in the payload modes it sends (STREAMING-UNSIGNED-PAYLOAD-TRAILER with each
// checksum algorithm, a signed SHA-256, requestChecksumCalculation WHEN_REQUIRED) and lib-storage's
// multipart; the AWS CLI (Debian's awscli: `aws s3 cp`, `aws s3api put-object`, a multipart upload with a
// small multipart_threshold, delete-objects); s3cmd (put, multipart put, get, del). The clients read no
// user configuration: their config and credentials files are temp files, instance metadata is off.
// scripts/s3-clients.sh installs the CLIs (CI runs it); outside CI a missing one skips its suite.

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ChecksumAlgorithm, CreateBucketCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCI } from '../support/services.js';
import { startS3Platform, type S3Platform } from '../support/s3-platform.js';

const BUCKET = 'clients';
const AWS = '/usr/bin/aws'; // Debian's awscli, not another `aws` that PATH may hold
const S3CMD = '/usr/bin/s3cmd';
let s3p: S3Platform;
let work: string;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  s3p = await startS3Platform();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-s3-clients-'));
  const s3 = sdkClient();
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  s3.destroy();
});

afterAll(async () => {
  await s3p?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** An SDK client whose signed requests' x-amz-content-sha256 values are kept in `modes`. */
function sdkClient(config: Partial<S3ClientConfig> = {}, modes?: string[]): S3Client {
  const client = new S3Client({ endpoint: s3p.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: s3p.key, maxAttempts: 1, ...config });
  // The deserialize step runs after signing: the request here is the one that goes on the wire.
  client.middlewareStack.add((next) => async (args) => {
    const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
    if (modes && headers['x-amz-content-sha256']) modes.push(headers['x-amz-content-sha256']);
    return next(args);
  }, { step: 'deserialize', name: 'recordPayloadMode' });
  return client;
}

async function readBack(s3: S3Client, key: string): Promise<Buffer> {
  return Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
}

describe('the AWS SDK for JavaScript v3', () => {
  it('uploads in its default mode (aws-chunked with a CRC32 trailer) and with every checksum algorithm', async () => {
    const modes: string[] = [];
    const s3 = sdkClient({}, modes);
    const data = randomBytes(300_000);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'sdk/default', Body: Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]), ContentLength: data.length }));
    expect(modes).toContain('STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    expect(sha(await readBack(s3, 'sdk/default'))).toBe(sha(data));
    // Those the SDK computes without an implementation of one's own (SHA512 and the xxHashes need one;
    // their verification is unit-tested against published values).
    const { CRC32, CRC32C, CRC64NVME, SHA1, SHA256, MD5 } = ChecksumAlgorithm;
    for (const alg of [CRC32, CRC32C, CRC64NVME, SHA1, SHA256, MD5]) {
      const key = `sdk/${alg}`;
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Readable.from([data]), ContentLength: data.length, ChecksumAlgorithm: alg }));
      expect(sha(await readBack(s3, key)), alg).toBe(sha(data));
      // A buffer body: the SDK signs its SHA-256 and sends the checksum as a header.
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${key}-buffer`, Body: data, ChecksumAlgorithm: alg }));
      expect(sha(await readBack(s3, `${key}-buffer`)), alg).toBe(sha(data));
    }
    expect(modes.some((m) => /^[0-9a-f]{64}$/.test(m))).toBe(true);
    s3.destroy();
  });

  it('uploads with requestChecksumCalculation WHEN_REQUIRED, and deletes many (a checksummed body)', async () => {
    const modes: string[] = [];
    const s3 = sdkClient({ requestChecksumCalculation: 'WHEN_REQUIRED' }, modes);
    const data = randomBytes(70_000);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'sdk/when-required', Body: data }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'sdk/when-required-stream', Body: Readable.from([data]), ContentLength: data.length }));
    expect(sha(await readBack(s3, 'sdk/when-required'))).toBe(sha(data));
    expect(sha(await readBack(s3, 'sdk/when-required-stream'))).toBe(sha(data));
    const deleted = await s3.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: [{ Key: 'sdk/when-required' }, { Key: 'sdk/when-required-stream' }] } }));
    expect(deleted.Deleted?.map((d) => d.Key).sort()).toEqual(['sdk/when-required', 'sdk/when-required-stream']);
    expect(new Set(modes).size).toBeGreaterThan(0);
    s3.destroy();
  });

  it('uploads 12 MB in parts with lib-storage, with and without a CRC32C per part', async () => {
    const s3 = sdkClient();
    const data = randomBytes(12 * 1024 * 1024);
    for (const [key, ChecksumAlgorithm] of [['sdk/multipart', undefined], ['sdk/multipart-crc32c', 'CRC32C' as const]] as const) {
      const done = await new Upload({ client: s3, params: { Bucket: BUCKET, Key: key, Body: Readable.from([data.subarray(0, 4_000_000), data.subarray(4_000_000)]), ChecksumAlgorithm }, partSize: 5 * 1024 * 1024, queueSize: 2 }).done();
      expect(done.ETag, key).toMatch(/^"[0-9a-f]{32}-3"$/);
      expect(sha(await readBack(s3, key)), key).toBe(sha(data));
    }
    s3.destroy();
  });
});

/** Runs a CLI client with only the environment it needs: no user config, no proxies, no metadata service. */
function run(cmd: string, args: string[], env: Record<string, string>): Promise<string> {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: path.join(work, 'home'), LANG: 'C.UTF-8' };
  fs.mkdirSync(base.HOME!, { recursive: true });
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...base, ...env }, encoding: 'utf8', timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function file(name: string, data: Buffer): string {
  const p = path.join(work, name);
  fs.writeFileSync(p, data);
  return p;
}

async function stored(key: string): Promise<Buffer> {
  const s3 = sdkClient();
  try {
    return await readBack(s3, key);
  } finally {
    s3.destroy();
  }
}

const missingCli = [AWS, S3CMD].filter((c) => !fs.existsSync(c));
if (missingCli.length > 0 && isCI) throw new Error(`${missingCli.join(' and ')} missing: CI installs them with scripts/s3-clients.sh`);

describe.skipIf(!fs.existsSync(AWS))('the AWS CLI (Debian awscli)', () => {
  let env: Record<string, string>;

  beforeAll(() => {
    const config = file('aws-config', Buffer.from('[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n    multipart_threshold = 5MB\n    multipart_chunksize = 5MB\n'));
    env = {
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: file('aws-credentials', Buffer.alloc(0)),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ACCESS_KEY_ID: s3p.key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3p.key.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_PAGER: '',
    };
  });

  const aws = (...args: string[]) => run(AWS, ['--endpoint-url', s3p.endpoint, ...args], env);

  it('puts with `aws s3 cp` and `aws s3api put-object`, and deletes with delete-objects', async () => {
    const small = randomBytes(40_000);
    await aws('s3', 'cp', file('small.bin', small), `s3://${BUCKET}/cli/small.bin`);
    expect(sha(await stored('cli/small.bin'))).toBe(sha(small));
    const api = randomBytes(1_000_000);
    const put = JSON.parse(await aws('s3api', 'put-object', '--bucket', BUCKET, '--key', 'cli/api.bin', '--body', file('api.bin', api))) as { ETag: string };
    expect(put.ETag).toBe(`"${createHash('md5').update(api).digest('hex')}"`);
    expect(sha(await stored('cli/api.bin'))).toBe(sha(api));
    const listed = await aws('s3', 'ls', `s3://${BUCKET}/cli/`);
    expect(listed).toContain('small.bin');
    await aws('s3api', 'delete-objects', '--bucket', BUCKET, '--delete', JSON.stringify({ Objects: [{ Key: 'cli/small.bin' }] }));
    const s3 = sdkClient();
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'cli/small.bin' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    s3.destroy();
  }, 120_000);

  it('uploads a 12 MB file in parts (multipart_threshold 5MB) and downloads it whole', async () => {
    const big = randomBytes(12 * 1024 * 1024);
    await aws('s3', 'cp', file('big.bin', big), `s3://${BUCKET}/cli/big.bin`);
    const s3 = sdkClient();
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'cli/big.bin' }));
    s3.destroy();
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-3"$/);
    const down = path.join(work, 'big-down.bin');
    await aws('s3', 'cp', `s3://${BUCKET}/cli/big.bin`, down);
    expect(sha(fs.readFileSync(down))).toBe(sha(big));
  }, 120_000);
});

describe.skipIf(!fs.existsSync(S3CMD))('s3cmd', () => {
  let config: string;

  beforeAll(() => {
    const host = new URL(s3p.endpoint).host;
    // host_bucket without %(bucket)s: path-style requests to the endpoint itself.
    config = file('s3cfg', Buffer.from([
      '[default]', `access_key = ${s3p.key.accessKeyId}`, `secret_key = ${s3p.key.secretAccessKey}`, `host_base = ${host}`, `host_bucket = ${host}`,
      'use_https = False', 'signature_v2 = False', 'bucket_location = us-east-1', 'multipart_chunk_size_mb = 5', 'proxy_host =', 'proxy_port = 0', '',
    ].join('\n')));
  });

  const s3cmd = (...args: string[]) => run(S3CMD, ['-c', config, '--no-progress', ...args], {});

  it('puts, puts 12 MB in parts, gets and deletes', async () => {
    const small = randomBytes(30_000);
    await s3cmd('put', file('s3cmd-small.bin', small), `s3://${BUCKET}/s3cmd/small.bin`);
    expect(sha(await stored('s3cmd/small.bin'))).toBe(sha(small));
    const big = randomBytes(12 * 1024 * 1024);
    await s3cmd('put', file('s3cmd-big.bin', big), `s3://${BUCKET}/s3cmd/big.bin`);
    const s3 = sdkClient();
    expect((await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 's3cmd/big.bin' }))).ETag).toMatch(/^"[0-9a-f]{32}-3"$/);
    const down = path.join(work, 's3cmd-down.bin');
    await s3cmd('get', `s3://${BUCKET}/s3cmd/big.bin`, down);
    expect(sha(fs.readFileSync(down))).toBe(sha(big));
    await s3cmd('del', `s3://${BUCKET}/s3cmd/small.bin`);
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 's3cmd/small.bin' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    s3.destroy();
  }, 120_000);
});
