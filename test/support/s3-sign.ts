// Signs raw S3 requests and presigned URLs for tests that must go beneath the SDK (a body cut off halfway,
// a presigned URL for curl) with @smithy/signature-v4, as the SDK's presigner does.

import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

export interface TestKey {
  accessKeyId: string;
  secretAccessKey: string;
}

const signer = (key: TestKey) => new SignatureV4({ service: 's3', region: 'us-east-1', credentials: key, sha256: Sha256, uriEscapePath: false });

function request(endpoint: string, method: string, path: string, headers: Record<string, string> = {}): HttpRequest {
  const url = new URL(endpoint);
  return new HttpRequest({ method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, headers: { host: url.host, ...headers } });
}

/** A presigned URL (query-string SigV4, UNSIGNED-PAYLOAD) for `path`, signed at `signingDate`. */
export async function presignUrl(endpoint: string, key: TestKey, method: string, path: string, expiresIn: number, signingDate = new Date()): Promise<string> {
  const signed = await signer(key).presign(request(endpoint, method, path, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }), { expiresIn, signingDate, unhoistableHeaders: new Set(['x-amz-content-sha256']), unsignableHeaders: new Set(['x-amz-content-sha256']) });
  const query = Object.entries(signed.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&');
  return `${endpoint}${path}?${query}`;
}

/** Headers of a header-signed request (x-amz-content-sha256 as given), for a raw http.request. */
export async function signedHeaders(endpoint: string, key: TestKey, method: string, path: string, headers: Record<string, string>, signingDate = new Date()): Promise<Record<string, string>> {
  const signed = await signer(key).sign(request(endpoint, method, path, headers), { signingDate });
  return signed.headers as Record<string, string>;
}
