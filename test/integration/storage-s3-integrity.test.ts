// S3 payload integrity (issue 15, item 2), attacked as a man in the middle would: every request here is
// first signed by @smithy/signature-v4 (the AWS SDK's signer) as a client would send it, "captured", and
// resent within the clock-skew window with another body — as it is, with an unsigned Content-Encoding:
// aws-chunked added, as a chunk stream with reused, forged or truncated chunk signatures, or with a wrong
// trailer checksum. Each forgery must be refused with S3's error and leave nothing stored; the captured
// request itself, sent afterwards, is accepted (so the capture was valid and the refusal is the body's).

import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, ListPartsCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3_NS } from '../../services/storage/xml.js';
import { encodeSigned, encodeUnsigned, signChunks, signTrailer, type SignedChunk } from '../support/s3-chunk-sign.js';
import { rawRequest, s3Code, startS3Platform, type RawAnswer, type S3Platform } from '../support/s3-platform.js';

const BUCKET = 'integrity';
let s3p: S3Platform;
let sdk: S3Client;

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('base64');

beforeAll(async () => {
  s3p = await startS3Platform();
  sdk = new S3Client({ endpoint: s3p.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: s3p.key, maxAttempts: 1 });
  await sdk.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  sdk?.destroy();
  await s3p?.stop();
});

/**
 * Headers of a request signed now by the SDK's signer, as a client sends it (the body's hash or mode in
 * x-amz-content-sha256); `query` is signed as part of the URL.
 */
async function sign(method: string, pathName: string, headers: Record<string, string>, query: Record<string, string> = {}, unsignable: string[] = []): Promise<Record<string, string>> {
  const url = new URL(s3p.endpoint);
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: s3p.key, sha256: Sha256, uriEscapePath: false });
  const out = await signer.sign(new HttpRequest({ method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: pathName, query, headers: { host: url.host, ...headers } }), { unsignableHeaders: new Set(unsignable) });
  return out.headers as Record<string, string>;
}
const send = (method: string, pathName: string, headers: Record<string, string>, body?: Buffer) => rawRequest(s3p.endpoint, method, pathName, headers, body);

function expectRefused(answer: RawAnswer, code: string, status = 400): void {
  expect(s3Code(answer), answer.body).toBe(code);
  expect(answer.status).toBe(status);
}

/**
 * An aws-chunked body of `length` bytes in all (Content-Length is signed: a replay keeps it) carrying other
 * data: one chunk of n bytes takes n + len(hex n) + 9 bytes of framing and data.
 */
function chunkedOfLength(length: number, fill: string): { body: Buffer; decoded: number } {
  for (let n = 1; n < length; n++) {
    if (n + n.toString(16).length + 9 === length) return { body: encodeUnsigned(Buffer.alloc(n, fill), n, []), decoded: n };
  }
  throw new Error(`no aws-chunked body is ${length} bytes long`);
}

async function content(key: string): Promise<string | null> {
  try {
    return await (await sdk.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return null;
    throw err;
  }
}

/** No upload left a temp file, and the bucket's data files are exactly its objects'. */
async function nothingStrayOnDisk(): Promise<void> {
  expect(fs.readdirSync(path.join(s3p.root, 'tmp'))).toEqual([]);
  const metas = fs.readdirSync(path.join(s3p.root, 'buckets', BUCKET, 'meta')).length;
  expect(fs.readdirSync(path.join(s3p.root, 'buckets', BUCKET, 'data'))).toHaveLength(metas);
}

describe('a captured PUT with a signed SHA-256', () => {
  const signedBody = Buffer.from('pay 10 EUR to alice');
  const swapped = Buffer.from('pay 99 EUR to mallo');

  it('is refused with another body, as sent and with an unsigned Content-Encoding: aws-chunked added', async () => {
    const p = `/${BUCKET}/transfer`;
    const captured = await sign('PUT', p, { 'x-amz-content-sha256': sha(signedBody), 'content-length': String(signedBody.length) });
    expectRefused(await send('PUT', p, captured, swapped), 'XAmzContentSHA256Mismatch');
    // The attack of issue 15: the header used to switch the check off and decode the body as chunks.
    const { body: chunked, decoded } = chunkedOfLength(signedBody.length, 'M');
    expect(chunked.length).toBe(signedBody.length);
    const withEncoding = { ...captured, 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(decoded) };
    expectRefused(await send('PUT', p, withEncoding, chunked), 'InvalidArgument');
    expectRefused(await send('PUT', p, { ...withEncoding, 'content-encoding': 'gzip,aws-chunked' }, chunked), 'InvalidArgument');
    // A client that does not sign Content-Length: a longer chunked body with a matching trailer checksum.
    const lengthFree = await sign('PUT', p, { 'x-amz-content-sha256': sha(signedBody), 'content-length': String(signedBody.length) }, {}, ['content-length']);
    expect(lengthFree.authorization).not.toContain('content-length');
    const crcd = encodeUnsigned(swapped, 8, [['x-amz-checksum-sha256', createHash('sha256').update(swapped).digest('base64')]]);
    const trailerHeaders = { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(swapped.length), 'x-amz-trailer': 'x-amz-checksum-sha256', 'content-length': String(crcd.length) };
    expectRefused(await send('PUT', p, { ...lengthFree, ...trailerHeaders }, crcd), 'InvalidArgument');
    expectRefused(await send('PUT', p, { ...lengthFree, 'content-length': String(swapped.length + 1) }, Buffer.concat([swapped, Buffer.from('!')])), 'XAmzContentSHA256Mismatch');
    // Nor can the mode be changed: it is part of what was signed.
    for (const mode of ['UNSIGNED-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD']) {
      expectRefused(await send('PUT', p, { ...withEncoding, 'x-amz-content-sha256': mode }, chunked), 'SignatureDoesNotMatch', 403);
    }
    expect(await content('transfer')).toBeNull();
    // The captured request itself was valid.
    expect((await send('PUT', p, captured, signedBody)).status).toBe(200);
    expect(await content('transfer')).toBe('pay 10 EUR to alice');
    // Replayed over the stored object with another body, it changes nothing.
    expectRefused(await send('PUT', p, captured, swapped), 'XAmzContentSHA256Mismatch');
    expectRefused(await send('PUT', p, withEncoding, chunked), 'InvalidArgument');
    expect(await content('transfer')).toBe('pay 10 EUR to alice');
    await nothingStrayOnDisk();
  });

  it('is refused when x-amz-content-sha256 is left out of the signed headers, and Content-MD5 is checked', async () => {
    const p = `/${BUCKET}/unsigned-hash`;
    const out = await sign('PUT', p, { 'x-amz-content-sha256': sha(signedBody), 'content-length': String(signedBody.length) }, {}, ['x-amz-content-sha256']);
    expect(out.authorization).not.toContain('x-amz-content-sha256');
    expectRefused(await send('PUT', p, out, signedBody), 'AccessDenied', 403);

    const withMd5 = await sign('PUT', p, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-md5': md5(signedBody), 'content-length': String(signedBody.length) });
    expectRefused(await send('PUT', p, withMd5, swapped), 'BadDigest');
    expect(await content('unsigned-hash')).toBeNull();
    expect((await send('PUT', p, withMd5, signedBody)).status).toBe(200);
  });
});

/** A chunk-signed PUT as a client builds it: headers signed with the streaming mode, then the chain. */
async function chunkSignedPut(p: string, data: Buffer, chunkSize: number, trailer?: [string, string]) {
  const mode = trailer ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER' : 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
  // The encoded length is signed too: a body framed with placeholder signatures has the same length.
  const placeholder = (n: number): SignedChunk[] => Array.from({ length: n }, (_, i) => ({ data: data.subarray(i * chunkSize, Math.min(data.length, (i + 1) * chunkSize)), signature: '0'.repeat(64) }));
  const count = Math.ceil(data.length / chunkSize) + 1;
  const length = encodeSigned(placeholder(count), trailer ? { lines: [trailer], signature: '0'.repeat(64) } : undefined).length;
  const headers = await sign('PUT', p, {
    'x-amz-content-sha256': mode, 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length), 'content-length': String(length),
    ...(trailer ? { 'x-amz-trailer': trailer[0] } : {}),
  });
  const ctx = { key: s3p.key, amzDate: headers['x-amz-date']!, region: 'us-east-1', seed: /Signature=([0-9a-f]{64})/.exec(headers.authorization!)![1]! };
  const chunks = await signChunks(ctx, data, chunkSize);
  const trailerPart = trailer ? { lines: [trailer], signature: await signTrailer(ctx, chunks.at(-1)!.signature, [trailer]) } : undefined;
  const body = encodeSigned(chunks, trailerPart);
  expect(body.length).toBe(length);
  return { headers, chunks, ctx, body, trailerPart };
}

describe('a captured chunk-signed PUT (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)', () => {
  it('is refused with swapped data, reused, forged or foreign chunk signatures, or cut short; the real one is stored', async () => {
    const p = `/${BUCKET}/chunked`;
    const data = randomBytes(200_000);
    const other = randomBytes(200_000);
    const { headers, chunks, ctx, body } = await chunkSignedPut(p, data, 65_536);
    const otherPieces = chunks.map((c, i) => other.subarray(i * 65_536, i * 65_536 + c.data.length));
    // Another body under the captured chunk signatures.
    expectRefused(await send('PUT', p, headers, encodeSigned(chunks.map((c, i) => ({ ...c, data: otherPieces[i]! })))), 'SignatureDoesNotMatch', 403);
    // Forged signatures, and a chain signed with the attacker's own key from the captured seed.
    expectRefused(await send('PUT', p, headers, encodeSigned(chunks.map((c, i) => ({ data: otherPieces[i]!, signature: randomBytes(32).toString('hex') })))), 'SignatureDoesNotMatch', 403);
    const foreign = await signChunks({ ...ctx, key: { accessKeyId: s3p.key.accessKeyId, secretAccessKey: 'not-the-secret-0123456789' } }, other, 65_536);
    expectRefused(await send('PUT', p, headers, encodeSigned(foreign)), 'SignatureDoesNotMatch', 403);
    // Only one byte changed in the last data chunk.
    const flipped = Buffer.from(body);
    flipped[body.length - 200] ^= 1;
    expectRefused(await send('PUT', p, headers, flipped), 'SignatureDoesNotMatch', 403);
    // Cut after two chunks, closed with the real final chunk's signature (it is chained: it does not fit).
    const cut = encodeSigned([chunks[0]!, chunks[1]!, { data: Buffer.alloc(0), signature: chunks.at(-1)!.signature }]);
    const cutHeaders = { ...headers, 'content-length': String(cut.length) };
    expect(s3Code(await send('PUT', p, cutHeaders, cut))).toMatch(/^(SignatureDoesNotMatch|IncompleteBody)$/);
    // The chunks without a chunk-signature (the same length: another extension in its place).
    const unsigned = Buffer.from(encodeSigned(chunks.map((c, i) => ({ data: otherPieces[i]!, signature: c.signature }))).toString('latin1').replaceAll(';chunk-signature=', ';chunk-signaturX='), 'latin1');
    expect(unsigned.length).toBe(body.length);
    expectRefused(await send('PUT', p, headers, unsigned), 'InvalidRequest');
    expect(await content('chunked')).toBeNull();
    await nothingStrayOnDisk();

    expect((await send('PUT', p, headers, body)).status).toBe(200);
    const got = Buffer.from(await (await sdk.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'chunked' }))).Body!.transformToByteArray());
    expect(got.equals(data)).toBe(true);
  });

  it('never keeps the bytes of a large forged stream it has already written to a temp file', async () => {
    const p = `/${BUCKET}/large-chunked`;
    const data = randomBytes(6 * 1024 * 1024);
    const { headers, chunks } = await chunkSignedPut(p, data, 1024 * 1024);
    // Five good chunks stream to disk; the sixth is forged.
    const forged = chunks.map((c, i) => (i === 5 ? { ...c, data: randomBytes(c.data.length) } : c));
    expectRefused(await send('PUT', p, headers, encodeSigned(forged)), 'SignatureDoesNotMatch', 403);
    expect(await content('large-chunked')).toBeNull();
    await nothingStrayOnDisk();
  });

  it('with a signed trailer: a wrong checksum is BadDigest, a changed or unsigned trailer SignatureDoesNotMatch', async () => {
    const p = `/${BUCKET}/trailer`;
    const data = randomBytes(100_000);
    const crc32c = async (b: Buffer) => {
      const { AwsCrc32c } = await import('@aws-crypto/crc32c');
      const c = new AwsCrc32c();
      c.update(b);
      return Buffer.from(await c.digest()).toString('base64');
    };
    // The client signs a checksum that is not the body's: the chain holds, the checksum does not.
    const wrong = await chunkSignedPut(p, data, 65_536, ['x-amz-checksum-crc32c', await crc32c(Buffer.from('something else'))]);
    expectRefused(await send('PUT', p, wrong.headers, wrong.body), 'BadDigest');
    const right = await chunkSignedPut(p, data, 65_536, ['x-amz-checksum-crc32c', await crc32c(data)]);
    // The trailer changed after signing, or its signature dropped.
    const changed = encodeSigned(right.chunks, { lines: [['x-amz-checksum-crc32c', await crc32c(Buffer.from('x'))]], signature: right.trailerPart!.signature });
    expectRefused(await send('PUT', p, right.headers, changed), 'SignatureDoesNotMatch', 403);
    const dropped = Buffer.concat([encodeSigned(right.chunks).subarray(0, -2), Buffer.from(`x-amz-checksum-crc32c:${await crc32c(data)}\r\n\r\n`)]);
    expectRefused(await send('PUT', p, { ...right.headers, 'content-length': String(dropped.length) }, dropped), 'SignatureDoesNotMatch', 403);
    expect(await content('trailer')).toBeNull();
    expect((await send('PUT', p, right.headers, right.body)).status).toBe(200);
    await nothingStrayOnDisk();
  });
});

describe('STREAMING-UNSIGNED-PAYLOAD-TRAILER', () => {
  it('stores nothing when the trailing checksum does not match the body, or a declared trailer is missing', async () => {
    const p = `/${BUCKET}/unsigned-trailer`;
    const data = Buffer.from('streamed without signatures, with a checksum');
    const crc = createHash('sha256').update(data).digest('base64');
    const headers = await sign('PUT', p, { 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length), 'x-amz-trailer': 'x-amz-checksum-sha256' });
    const bodyOf = (d: Buffer, trailers: [string, string][]) => encodeUnsigned(d, 16, trailers);
    const put = (body: Buffer) => send('PUT', p, { ...headers, 'content-length': String(body.length) }, body);
    const tampered = Buffer.from(data);
    tampered[3] ^= 1;
    expectRefused(await put(bodyOf(tampered, [['x-amz-checksum-sha256', crc]])), 'BadDigest');
    expectRefused(await put(bodyOf(data, [])), 'InvalidRequest');
    expectRefused(await put(bodyOf(data, [['x-amz-checksum-crc32', 'AAAAAA==']])), 'InvalidRequest');
    expect(await content('unsigned-trailer')).toBeNull();
    expect((await put(bodyOf(data, [['x-amz-checksum-sha256', crc]]))).status).toBe(200);
    expect(await content('unsigned-trailer')).toBe(data.toString());
  });
});

describe('captured requests whose body is a command', () => {
  it('DeleteObjects: another key list in the body deletes nothing', async () => {
    for (const k of ['keep-a', 'keep-b']) await sdk.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: k }));
    const p = `/${BUCKET}?delete`;
    const xml = (k: string) => Buffer.from(`<Delete xmlns="${S3_NS}"><Object><Key>${k}</Key></Object></Delete>`);
    const signedWithQuery = await sign('POST', `/${BUCKET}`, { 'x-amz-content-sha256': sha(xml('keep-a')), 'content-length': String(xml('keep-a').length) }, { delete: '' });
    expectRefused(await send('POST', p, signedWithQuery, xml('keep-b')), 'XAmzContentSHA256Mismatch');
    const chunked = chunkedOfLength(xml('keep-a').length, 'x');
    expectRefused(await send('POST', p, { ...signedWithQuery, 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(chunked.decoded) }, chunked.body), 'InvalidArgument');
    expect(await content('keep-b')).toBe('keep-b');
    expect(await content('keep-a')).toBe('keep-a');
    expect((await send('POST', p, signedWithQuery, xml('keep-a'))).status).toBe(200);
    expect(await content('keep-a')).toBeNull();
    expect(await content('keep-b')).toBe('keep-b');
  });

  it('UploadPart and CompleteMultipartUpload: another part or part list is refused, the upload unchanged', async () => {
    const key = 'assembled';
    const { UploadId } = await sdk.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
    const part1 = Buffer.alloc(5 * 1024 * 1024, 1);
    const e1 = (await sdk.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 1, Body: part1 }))).ETag!;
    const part2 = Buffer.from('the real second part');
    const partQuery = { partNumber: '2', uploadId: UploadId! };
    const capturedPart = await sign('PUT', `/${BUCKET}/${key}`, { 'x-amz-content-sha256': sha(part2), 'content-length': String(part2.length) }, partQuery);
    const partPath = `/${BUCKET}/${key}?partNumber=2&uploadId=${UploadId}`;
    expectRefused(await send('PUT', partPath, capturedPart, Buffer.from('a forged second part')), 'XAmzContentSHA256Mismatch');
    const chunkedPart = chunkedOfLength(part2.length, 'f');
    expectRefused(await send('PUT', partPath, { ...capturedPart, 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(chunkedPart.decoded) }, chunkedPart.body), 'InvalidArgument');
    expect((await sdk.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId }))).Parts?.map((x) => x.PartNumber)).toEqual([1]);
    expect((await send('PUT', partPath, capturedPart, part2)).status).toBe(200);

    const completeXml = (parts: number[]) => Buffer.from(`<CompleteMultipartUpload>${parts.map((n) => `<Part><PartNumber>${n}</PartNumber><ETag>${n === 1 ? e1 : `"${createHash('md5').update(part2).digest('hex')}"`}</ETag></Part>`).join('')}</CompleteMultipartUpload>`);
    const both = completeXml([1, 2]);
    const onlyFirst = completeXml([1]);
    const captured = await sign('POST', `/${BUCKET}/${key}`, { 'x-amz-content-sha256': sha(both), 'content-length': String(both.length) }, { uploadId: UploadId! });
    const completePath = `/${BUCKET}/${key}?uploadId=${UploadId}`;
    // Content-Length is signed: the shorter list is padded to the signed length with XML whitespace.
    const padded = Buffer.concat([onlyFirst, Buffer.alloc(both.length - onlyFirst.length, ' ')]);
    expectRefused(await send('POST', completePath, captured, padded), 'XAmzContentSHA256Mismatch');
    await expect(sdk.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    expect((await sdk.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId }))).Parts?.map((x) => x.PartNumber)).toEqual([1, 2]);
    expect((await send('POST', completePath, captured, both)).status).toBe(200);
    expect((await sdk.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).ContentLength).toBe(part1.length + part2.length);
    await nothingStrayOnDisk();
  });
});
