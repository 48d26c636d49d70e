// The body checks of the S3 endpoint without a server: the aws-chunked decoder and the chunk-signature
// chain against the worked examples AWS publishes for STREAMING-AWS4-HMAC-SHA256-PAYLOAD and
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (64 KiB + 1 KiB of 'a', example key, 2013-05-24), the test
// signer checked against the same numbers, and uploadBody's rule that the signed x-amz-content-sha256,
// not an unsigned header, decides what the body must be.

import { createHash } from 'node:crypto';
import type http from 'node:http';
import { Readable } from 'node:stream';
import { Sha256 } from '@aws-crypto/sha256-js';
import { getSigningKey } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { AwsChunkedDecoder, type ChunkedOptions } from '../../services/storage/aws-chunked.js';
import { ChunkChain, type ChunkSeed } from '../../services/storage/chunk-signature.js';
import { uploadBody, type BodyOptions } from '../../services/storage/payload.js';
import type { SignedPayload } from '../../services/storage/sigv4.js';
import { encodeUnsigned, signChunks, signTrailer, type ChunkSigningContext } from '../support/s3-chunk-sign.js';

// AWS's example credentials and the published signatures of its chunked-upload examples.
const EXAMPLE_KEY = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const AMZ_DATE = '20130524T000000Z';
const PLAIN = {
  seed: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
  chunks: ['ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648', '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497', 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9'],
};
const TRAILER = {
  seed: '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
  chunks: ['b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2', '1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7', '2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992'],
  crc32c: 'sOO8/Q==',
  signature: 'd81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435',
};
const DATA = Buffer.alloc(66_560, 'a');

async function seedOf(seed: string): Promise<ChunkSeed> {
  return { signingKey: await getSigningKey(Sha256, EXAMPLE_KEY, '20130524', 'us-east-1', 's3'), amzDate: AMZ_DATE, scope: '20130524/us-east-1/s3/aws4_request', seed };
}

/** The example body as AWS frames it: 0x10000 bytes, 0x400 bytes, the final chunk, then `tail`. */
function exampleBody(signatures: string[], tail = '\r\n'): Buffer {
  return Buffer.concat([
    Buffer.from(`10000;chunk-signature=${signatures[0]}\r\n`), DATA.subarray(0, 65_536), Buffer.from('\r\n'),
    Buffer.from(`400;chunk-signature=${signatures[1]}\r\n`), DATA.subarray(65_536), Buffer.from('\r\n'),
    Buffer.from(`0;chunk-signature=${signatures[2]}\r\n${tail}`),
  ]);
}

/** Feeds `body` in small pieces (so lines and chunks straddle reads) and collects what comes out. */
async function decode(body: Buffer, opts: ChunkedOptions = {}): Promise<{ data: Buffer; decoder: AwsChunkedDecoder }> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < body.length; at += 997) pieces.push(body.subarray(at, at + 997));
  const decoder = new AwsChunkedDecoder(opts);
  const chunks: Buffer[] = [];
  for await (const c of Readable.from(pieces).pipe(decoder)) chunks.push(c as Buffer);
  return { data: Buffer.concat(chunks), decoder };
}

describe('signed chunks: AWS\'s STREAMING-AWS4-HMAC-SHA256-PAYLOAD example', () => {
  it('decodes the published body with its published chunk signatures', async () => {
    const body = exampleBody(PLAIN.chunks);
    expect(body.length).toBe(66_824); // the Content-Length AWS gives for it
    const { data } = await decode(body, { chain: new ChunkChain(await seedOf(PLAIN.seed)) });
    expect(data.equals(DATA)).toBe(true);
  });

  it('the test signer reproduces the published signatures (so tests built on it sign as AWS does)', async () => {
    const ctx: ChunkSigningContext = { key: EXAMPLE_KEY, amzDate: AMZ_DATE, region: 'us-east-1', seed: PLAIN.seed };
    expect((await signChunks(ctx, DATA, 65_536)).map((c) => c.signature)).toEqual(PLAIN.chunks);
    const trailerCtx = { ...ctx, seed: TRAILER.seed };
    const signed = await signChunks(trailerCtx, DATA, 65_536);
    expect(signed.map((c) => c.signature)).toEqual(TRAILER.chunks);
    expect(await signTrailer(trailerCtx, TRAILER.chunks[2]!, [['x-amz-checksum-crc32c', TRAILER.crc32c]])).toBe(TRAILER.signature);
  });

  it('refuses a changed byte, swapped or reused signatures, another seed, a forged or missing final chunk', async () => {
    const chain = async (seed = PLAIN.seed) => ({ chain: new ChunkChain(await seedOf(seed)) });
    const flipped = exampleBody(PLAIN.chunks);
    flipped[66_000] = 0x62; // in the second chunk's data
    await expect(decode(flipped, await chain())).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    await expect(decode(exampleBody([PLAIN.chunks[1]!, PLAIN.chunks[0]!, PLAIN.chunks[2]!]), await chain())).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    // The same signed body under another request's signature (a replay onto another request) fails at once.
    await expect(decode(exampleBody(PLAIN.chunks), await chain(TRAILER.seed))).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    // Cut after the first chunk, with a made-up or reused final chunk: the final chunk is signed too.
    const first = exampleBody(PLAIN.chunks).subarray(0, 88 + 65_536 + 2); // size line, data, CRLF
    await expect(decode(Buffer.concat([first, Buffer.from(`0;chunk-signature=${'0'.repeat(64)}\r\n\r\n`)]), await chain())).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    await expect(decode(Buffer.concat([first, Buffer.from(`0;chunk-signature=${PLAIN.chunks[2]}\r\n\r\n`)]), await chain())).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    await expect(decode(first, await chain())).rejects.toMatchObject({ code: 'IncompleteBody' });
    // A chunk without a signature, or a trailer where none may be.
    const unsignedLine = Buffer.concat([Buffer.from('10000\r\n'), DATA.subarray(0, 65_536)]);
    await expect(decode(unsignedLine, await chain())).rejects.toMatchObject({ code: 'InvalidRequest' });
    await expect(decode(exampleBody(PLAIN.chunks, 'x-amz-checksum-crc32:AAAAAA==\r\n\r\n'), await chain())).rejects.toMatchObject({ code: 'InvalidRequest' });
    await expect(decode(Buffer.concat([exampleBody(PLAIN.chunks), Buffer.from('5\r\nextra\r\n')]), await chain())).rejects.toMatchObject({ code: 'InvalidRequest' });
  });
});

describe('signed chunks with a signed trailer: AWS\'s -PAYLOAD-TRAILER example', () => {
  const opts = async (): Promise<ChunkedOptions> => ({ chain: new ChunkChain(await seedOf(TRAILER.seed)), declared: new Set(['x-amz-checksum-crc32c']), signedTrailer: true });

  it('decodes the published body and keeps its CRC32C trailer', async () => {
    const { data, decoder } = await decode(exampleBody(TRAILER.chunks, `x-amz-checksum-crc32c:${TRAILER.crc32c}\r\nx-amz-trailer-signature:${TRAILER.signature}\r\n\r\n`), await opts());
    expect(data.equals(DATA)).toBe(true);
    expect(decoder.trailers.get('x-amz-checksum-crc32c')).toBe(TRAILER.crc32c);
  });

  it('refuses a changed trailer value, a missing or misplaced trailer signature and an undeclared trailer', async () => {
    const tail = (t: string) => exampleBody(TRAILER.chunks, t);
    await expect(decode(tail(`x-amz-checksum-crc32c:AAAAAA==\r\nx-amz-trailer-signature:${TRAILER.signature}\r\n\r\n`), await opts())).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    await expect(decode(tail(`x-amz-checksum-crc32c:${TRAILER.crc32c}\r\n\r\n`), await opts())).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    await expect(decode(tail(`x-amz-checksum-crc32c:${TRAILER.crc32c}\r\n`), await opts())).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    await expect(decode(tail(`x-amz-checksum-crc32c:${TRAILER.crc32c}\r\nx-amz-trailer-signature:${TRAILER.signature}\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n`), await opts())).rejects.toMatchObject({ code: 'InvalidRequest' });
    await expect(decode(tail(`x-amz-meta-late:1\r\nx-amz-trailer-signature:${TRAILER.signature}\r\n\r\n`), await opts())).rejects.toMatchObject({ code: 'InvalidRequest' });
  });
});

describe('unsigned chunks (STREAMING-UNSIGNED-PAYLOAD-TRAILER)', () => {
  it('decodes chunks with extensions and keeps declared trailers; ends without the last empty line too', async () => {
    const declared = new Set(['x-amz-checksum-crc32']);
    const { data, decoder } = await decode(Buffer.from('5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-amz-checksum-crc32:abc=\r\n\r\n'), { declared });
    expect(data.toString()).toBe('hello world');
    expect(decoder.trailers.get('x-amz-checksum-crc32')).toBe('abc=');
    expect((await decode(Buffer.from('2\r\nhi\r\n0\r\nx-amz-checksum-crc32:abc=\r\n'), { declared })).data.toString()).toBe('hi');
  });

  it('refuses a chunk longer than declared, a bad size line, a signed chunk, an undeclared trailer and a cut body', async () => {
    await expect(decode(Buffer.from('3\r\nhello\r\n0\r\n\r\n'))).rejects.toMatchObject({ code: 'InvalidRequest' });
    await expect(decode(Buffer.from('zz\r\nhello\r\n'))).rejects.toMatchObject({ code: 'InvalidRequest' });
    await expect(decode(Buffer.from(`5;chunk-signature=${PLAIN.chunks[0]}\r\nhello\r\n0\r\n\r\n`))).rejects.toMatchObject({ code: 'InvalidRequest' });
    await expect(decode(Buffer.from('5\r\nhello\r\n0\r\nx-amz-checksum-sha256:abc=\r\n\r\n'), { declared: new Set(['x-amz-checksum-crc32']) })).rejects.toMatchObject({ code: 'InvalidRequest' });
    await expect(decode(Buffer.from('5\r\nhel'))).rejects.toMatchObject({ code: 'IncompleteBody' });
    await expect(decode(Buffer.from(`${'f'.repeat(16)}\r\n`))).rejects.toMatchObject({ code: 'InvalidRequest' });
  });
});

/** A request as uploadBody sees it: headers and a body stream (what http.IncomingMessage gives it). */
function fakeRequest(headers: Record<string, string>, body: Buffer): http.IncomingMessage {
  return Object.assign(Readable.from([body]), { headers, complete: true }) as unknown as http.IncomingMessage;
}

async function read(headers: Record<string, string>, body: Buffer, payload: SignedPayload, opts?: BodyOptions): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of uploadBody(fakeRequest(headers, body), payload, 1 << 20, opts)) out.push(c as Buffer);
  return Buffer.concat(out);
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const b64 = (alg: string, b: Buffer | string) => createHash(alg).update(b).digest('base64');

describe('uploadBody: the signed mode decides, every declared check holds', () => {
  const signedBody = Buffer.from('the signed body');
  const len = (b: Buffer) => ({ 'content-length': String(b.length) });

  it('checks a hex x-amz-content-sha256 against the raw body, whatever Content-Encoding says', async () => {
    expect((await read(len(signedBody), signedBody, { hash: sha(signedBody) })).toString()).toBe('the signed body');
    const other = Buffer.from('another body!!!');
    await expect(read(len(other), other, { hash: sha(signedBody) })).rejects.toMatchObject({ code: 'XAmzContentSHA256Mismatch' });
    // The attack of issue 15: the unsigned header must not switch the check off (nor make the body decode).
    const chunked = encodeUnsigned(other, 8, []);
    for (const encoding of ['aws-chunked', 'gzip, aws-chunked', 'AWS-CHUNKED']) {
      await expect(read({ ...len(chunked), 'content-encoding': encoding, 'x-amz-decoded-content-length': String(other.length) }, chunked, { hash: sha(signedBody) })).rejects.toMatchObject({ code: 'InvalidArgument' });
    }
    await expect(read({ ...len(chunked), 'content-encoding': 'aws-chunked' }, chunked, { hash: 'UNSIGNED-PAYLOAD' })).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('checks Content-MD5, x-amz-checksum-* headers and the declared length', async () => {
    const body = Buffer.from('checked body');
    const ok = { ...len(body), 'content-md5': b64('md5', body), 'x-amz-checksum-sha256': b64('sha256', body), 'x-amz-checksum-sha1': b64('sha1', body) };
    expect((await read(ok, body, { hash: 'UNSIGNED-PAYLOAD' })).toString()).toBe('checked body');
    await expect(read({ ...ok, 'content-md5': b64('md5', 'other') }, body, { hash: 'UNSIGNED-PAYLOAD' })).rejects.toMatchObject({ code: 'BadDigest' });
    await expect(read({ ...ok, 'content-md5': 'not-an-md5' }, body, { hash: 'UNSIGNED-PAYLOAD' })).rejects.toMatchObject({ code: 'InvalidDigest' });
    await expect(read({ ...ok, 'x-amz-checksum-sha1': b64('sha1', 'other') }, body, { hash: 'UNSIGNED-PAYLOAD' })).rejects.toMatchObject({ code: 'BadDigest' });
    await expect(read({ ...len(body), 'x-amz-checksum-crc32': 'AAAA' }, body, { hash: 'UNSIGNED-PAYLOAD' })).rejects.toMatchObject({ code: 'InvalidRequest' });
    await expect(read({ ...len(body), 'x-amz-checksum-md4': 'AAAAAA==' }, body, { hash: 'UNSIGNED-PAYLOAD' })).rejects.toMatchObject({ code: 'InvalidRequest' });
    await expect(read({ ...len(body), 'x-amz-decoded-content-length': '3' }, body, { hash: 'UNSIGNED-PAYLOAD' })).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(read({ 'content-length': '99' }, body, { hash: 'UNSIGNED-PAYLOAD' })).rejects.toMatchObject({ code: 'IncompleteBody' });
    // CompleteMultipartUpload: the object's checksum headers are not the XML's.
    expect((await read({ ...len(body), 'x-amz-checksum-crc32': 'AAAAAA==' }, body, { hash: sha(body) }, { checksumHeaders: false })).toString()).toBe('checked body');
  });

  it('verifies the trailing checksum of STREAMING-UNSIGNED-PAYLOAD-TRAILER for each algorithm S3 has', async () => {
    const data = Buffer.from('x'.repeat(100_000));
    // Values of the AWS SDK's own implementations for this body, and node's for the SHAs.
    const sums: Record<string, string> = { 'x-amz-checksum-sha256': b64('sha256', data), 'x-amz-checksum-sha1': b64('sha1', data) };
    const { AwsCrc32 } = await import('@aws-crypto/crc32');
    const { AwsCrc32c } = await import('@aws-crypto/crc32c');
    const { Crc64Nvme } = await import('@aws-sdk/crc64-nvme');
    for (const [name, C] of [['x-amz-checksum-crc32', AwsCrc32], ['x-amz-checksum-crc32c', AwsCrc32c], ['x-amz-checksum-crc64nvme', Crc64Nvme]] as const) {
      const c = new C();
      c.update(data);
      sums[name] = Buffer.from(await c.digest()).toString('base64');
    }
    for (const [name, value] of Object.entries(sums)) {
      const headers = { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length), 'x-amz-trailer': name };
      const good = encodeUnsigned(data, 8192, [[name, value]]);
      expect((await read(headers, good, { hash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' })).equals(data), name).toBe(true);
      const wrongSum = encodeUnsigned(data, 8192, [[name, sums['x-amz-checksum-sha256'] === value ? sums['x-amz-checksum-sha1']! : sums['x-amz-checksum-sha256']!]]);
      await expect(read(headers, wrongSum, { hash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }), name).rejects.toMatchObject({ code: expect.stringMatching(/^(BadDigest|InvalidRequest)$/) });
      const swapped = encodeUnsigned(Buffer.from('y'.repeat(100_000)), 8192, [[name, value]]);
      await expect(read(headers, swapped, { hash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }), name).rejects.toMatchObject({ code: 'BadDigest' });
      // Declared, never sent: not a pass.
      await expect(read(headers, encodeUnsigned(data, 8192, []), { hash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }), name).rejects.toMatchObject({ code: 'InvalidRequest' });
    }
    // xxHash and SHA-512 by published values for "abc" (the xxHash spec's, hex, big-endian).
    const abc = Buffer.from('abc');
    const published: Record<string, string> = {
      'x-amz-checksum-xxhash64': '44bc2cf5ad770999',
      'x-amz-checksum-xxhash3': '78af5f94892f3950',
      'x-amz-checksum-xxhash128': '06b05ab6733a618578af5f94892f3950',
      'x-amz-checksum-sha512': createHash('sha512').update(abc).digest('hex'),
      'x-amz-checksum-md5': createHash('md5').update(abc).digest('hex'),
    };
    for (const [name, hex] of Object.entries(published)) {
      const value = Buffer.from(hex, 'hex').toString('base64');
      const h = { 'content-length': '3', [name]: value };
      expect((await read(h, abc, { hash: 'UNSIGNED-PAYLOAD' })).toString(), name).toBe('abc');
      await expect(read(h, Buffer.from('abd'), { hash: 'UNSIGNED-PAYLOAD' }), name).rejects.toMatchObject({ code: 'BadDigest' });
      const trailed = { 'x-amz-decoded-content-length': '3', 'x-amz-trailer': name };
      expect((await read(trailed, encodeUnsigned(abc, 2, [[name, value]]), { hash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' })).toString(), name).toBe('abc');
    }
    const headers = { 'x-amz-decoded-content-length': String(data.length + 1) };
    await expect(read(headers, encodeUnsigned(data, 8192, []), { hash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' })).rejects.toMatchObject({ code: 'IncompleteBody' });
    await expect(read({}, encodeUnsigned(data, 8192, []), { hash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' })).rejects.toMatchObject({ code: 'MissingContentLength' });
    await expect(read({ 'x-amz-decoded-content-length': '1', 'x-amz-trailer': 'x-amz-meta-a' }, encodeUnsigned(data, 8192, []), { hash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' })).rejects.toMatchObject({ code: 'InvalidRequest' });
  });
});
