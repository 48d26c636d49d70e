// AWS Signature V4 check of every S3 request, header form (Authorization: AWS4-HMAC-SHA256 …) and query
// form (presigned URLs). The request as received is rebuilt as a @smithy/protocol-http HttpRequest holding
// only the headers the client says it signed; @smithy/signature-v4 (the signer the AWS SDK itself uses)
// signs it again with the stored secret, and the two signatures are compared in constant time. No SigV4
// crypto is written here: parsing and the time rules only.

import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { getSigningKey, SignatureV4 } from '@smithy/signature-v4';
import { EMPTY_SHA256, type ChunkSeed } from './chunk-signature.js';
import { S3Error } from './errors.js';

/** S3's bound on the distance between the signing time and ours. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
/** SigV4's longest presigned-URL lifetime: 7 days. */
const MAX_EXPIRES_S = 604_800;
const ALGORITHM = 'AWS4-HMAC-SHA256';
const UNSIGNED = 'UNSIGNED-PAYLOAD';
const PRESIGN_PARAMS = new Set(['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Security-Token']);

export interface SecretLookup {
  /** The secret of an access key, or undefined when the key is unknown or revoked. */
  secretOf(accessKeyId: string): string | undefined;
}

/** The values of x-amz-content-sha256 besides a hex SHA-256 of the body. */
export const PAYLOAD = {
  unsigned: UNSIGNED,
  unsignedTrailer: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
  signed: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  signedTrailer: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
} as const;
const PAYLOAD_MODES = new Set<string>(Object.values(PAYLOAD));

/** What the signature says of the body: payload.ts holds the body to it. */
export interface SignedPayload {
  /** x-amz-content-sha256 as signed: a lower-case hex SHA-256 of the body, or one of PAYLOAD. */
  hash: string;
  /** For signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD…): what the chain of chunk signatures starts from. */
  chunks?: ChunkSeed;
}

export interface Verified {
  accessKeyId: string;
  payload: SignedPayload;
}

export type Query = Record<string, string | string[]>;

/** The query string decoded into the shape the signer takes (it re-encodes names and values itself). */
export function parseQuery(raw: string): Query {
  const query: Query = {};
  if (!raw) return query;
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const name = safeDecode(eq === -1 ? part : part.slice(0, eq));
    const value = eq === -1 ? '' : safeDecode(part.slice(eq + 1));
    const prev = query[name];
    query[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return query;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new S3Error('InvalidArgument', 'The query string has a malformed percent-escape.');
  }
}

/** Checks the signature of a request; throws the S3 error a client expects when it does not hold. */
export async function verifyRequest(req: http.IncomingMessage, rawPath: string, query: Query, keys: SecretLookup, now: Date): Promise<Verified> {
  const auth = req.headers.authorization;
  if (typeof query['X-Amz-Signature'] === 'string' || typeof query['X-Amz-Credential'] === 'string') {
    if (auth) throw new S3Error('InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.');
    return verifyPresigned(req, rawPath, query, keys, now);
  }
  if (!auth) throw new S3Error('AccessDenied', 'Access Denied: every request must be signed with AWS Signature V4 (an access key from POST /v1/storage/keys).');
  return verifyHeader(req, auth, rawPath, query, keys, now);
}

async function verifyHeader(req: http.IncomingMessage, auth: string, rawPath: string, query: Query, keys: SecretLookup, now: Date): Promise<Verified> {
  const m = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})\s*$/.exec(auth);
  if (!m) throw new S3Error('InvalidArgument', 'Unsupported Authorization header: send AWS Signature Version 4 (AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…).');
  const [, credential, signedList, signature] = m as unknown as [string, string, string, string];
  const scope = parseCredential(credential);
  const dateHeader = header(req, 'x-amz-date');
  if (!dateHeader) throw new S3Error('AccessDenied', 'AWS authentication requires a valid x-amz-date header.');
  const signingDate = parseAmzDate(dateHeader);
  if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_CLOCK_SKEW_MS) {
    throw new S3Error('RequestTimeTooSkewed', 'The difference between the request time and the server\'s time is too large (more than 15 minutes).', { RequestTime: dateHeader, ServerTime: now.toISOString() });
  }
  // Without the header (curl's --aws-sigv4 before 8.x) a request with no body signed the empty body's hash.
  const payloadHash = header(req, 'x-amz-content-sha256') ?? (hasNoBody(req) ? EMPTY_SHA256 : undefined);
  if (!payloadHash) throw new S3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256 (it may be left out only when there is no body).');
  checkPayloadHash(payloadHash);
  const signed = signedHeaders(signedList);
  // The canonical request ends with the payload hash whether the header is signed or not; requiring it
  // among the signed headers as well leaves no reading of the request in which it was not signed.
  if (header(req, 'x-amz-content-sha256') !== undefined && !signed.includes('x-amz-content-sha256')) {
    throw new S3Error('AccessDenied', 'x-amz-content-sha256 must be among the signed headers (SignedHeaders).');
  }
  const secret = secretFor(keys, scope.accessKeyId);
  const request = rebuild(req, rawPath, query, signed);
  // The canonical request always ends with the payload hash the client declared, signed header or not.
  request.headers['x-amz-content-sha256'] = payloadHash;
  const unsignable = new Set(signed.includes('x-amz-content-sha256') ? [] : ['x-amz-content-sha256']);
  const out = await signerFor(scope, secret).sign(request, { signingDate, signableHeaders: new Set(signed), unsignableHeaders: unsignable, signingRegion: scope.region });
  const expected = /Signature=([0-9a-f]{64})$/.exec(String(out.headers.authorization))?.[1] ?? '';
  compare(expected, signature);
  if (payloadHash !== PAYLOAD.signed && payloadHash !== PAYLOAD.signedTrailer) return { accessKeyId: scope.accessKeyId, payload: { hash: payloadHash } };
  // Signed chunks: the chain starts from this signature, under the same key and scope (the signer's,
  // which takes the date from x-amz-date, as the seed was checked).
  const shortDate = dateHeader.slice(0, 8);
  const signingKey = await getSigningKey(Sha256, { accessKeyId: scope.accessKeyId, secretAccessKey: secret }, shortDate, scope.region, 's3');
  const chunks: ChunkSeed = { signingKey, amzDate: dateHeader, scope: `${shortDate}/${scope.region}/s3/aws4_request`, seed: signature };
  return { accessKeyId: scope.accessKeyId, payload: { hash: payloadHash, chunks } };
}

/** A hex SHA-256 (lower case, as signers write it) or one of the modes S3 defines. */
function checkPayloadHash(value: string): void {
  if (/^[0-9a-f]{64}$/.test(value) || PAYLOAD_MODES.has(value)) return;
  if (/^STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD/.test(value)) throw new S3Error('NotImplemented', `x-amz-content-sha256 ${value.slice(0, 64)} (SigV4a) is not supported here: sign with AWS4-HMAC-SHA256.`);
  throw new S3Error('InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a lower-case hex SHA-256 of the body.', { ArgumentName: 'x-amz-content-sha256' });
}

async function verifyPresigned(req: http.IncomingMessage, rawPath: string, query: Query, keys: SecretLookup, now: Date): Promise<Verified> {
  const one = (name: string): string => {
    const v = query[name];
    if (typeof v !== 'string' || v === '') throw new S3Error('AccessDenied', `Query-string authentication requires the ${name} parameter, once.`);
    return v;
  };
  if (one('X-Amz-Algorithm') !== ALGORITHM) throw new S3Error('InvalidArgument', `X-Amz-Algorithm must be ${ALGORITHM}.`);
  const scope = parseCredential(one('X-Amz-Credential'));
  const dateText = one('X-Amz-Date');
  const signingDate = parseAmzDate(dateText);
  const expiresText = one('X-Amz-Expires');
  const expires = /^\d{1,6}$/.test(expiresText) ? Number(expiresText) : NaN;
  if (!(expires >= 1 && expires <= MAX_EXPIRES_S)) throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Expires must be a whole number of seconds from 1 to 604800 (7 days).');
  if (signingDate.getTime() - now.getTime() > MAX_CLOCK_SKEW_MS) throw new S3Error('AccessDenied', 'Request is not valid yet: X-Amz-Date is in the future.');
  if (now.getTime() > signingDate.getTime() + expires * 1000) {
    throw new S3Error('AccessDenied', 'Request has expired', { Expires: new Date(signingDate.getTime() + expires * 1000).toISOString(), ServerTime: now.toISOString() });
  }
  const signature = one('X-Amz-Signature');
  const signed = signedHeaders(one('X-Amz-SignedHeaders'));
  const secret = secretFor(keys, scope.accessKeyId);
  const rest: Query = {};
  for (const [k, v] of Object.entries(query)) if (!PRESIGN_PARAMS.has(k)) rest[k] = v;
  const request = rebuild(req, rawPath, rest, signed);
  // A presigned URL signs UNSIGNED-PAYLOAD: the header carries it into the signer without being signed.
  request.headers['x-amz-content-sha256'] = UNSIGNED;
  const out = await signerFor(scope, secret).presign(request, {
    signingDate,
    expiresIn: expires,
    signingRegion: scope.region,
    signableHeaders: new Set(signed),
    unsignableHeaders: new Set(['x-amz-content-sha256']),
    unhoistableHeaders: new Set(Object.keys(request.headers)),
  });
  compare(String(out.query?.['X-Amz-Signature'] ?? ''), signature);
  return { accessKeyId: scope.accessKeyId, payload: { hash: UNSIGNED } };
}

interface Scope {
  accessKeyId: string;
  region: string;
}

function parseCredential(credential: string): Scope {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[3] !== 's3' || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]!) || !parts[0] || !parts[2]) {
    throw new S3Error('AuthorizationHeaderMalformed', 'The credential must be <access key>/<yyyymmdd>/<region>/s3/aws4_request.');
  }
  return { accessKeyId: parts[0], region: parts[2] };
}

function signedHeaders(list: string): string[] {
  const names = list.split(';').map((s) => s.trim().toLowerCase());
  if (!names.includes('host')) throw new S3Error('AccessDenied', 'The host header must be signed.');
  return names;
}

function secretFor(keys: SecretLookup, accessKeyId: string): string {
  const secret = keys.secretOf(accessKeyId);
  if (secret === undefined) throw new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: accessKeyId });
  return secret;
}

function signerFor(scope: Scope, secret: string): SignatureV4 {
  // S3 signs the path as sent (no second escaping, no dot-segment normalisation): uriEscapePath false.
  return new SignatureV4({ service: 's3', region: scope.region, credentials: { accessKeyId: scope.accessKeyId, secretAccessKey: secret }, sha256: Sha256, uriEscapePath: false });
}

function rebuild(req: http.IncomingMessage, rawPath: string, query: Query, signed: string[]): HttpRequest {
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const value = req.headers[name];
    if (value === undefined) throw new S3Error('SignatureDoesNotMatch', `The signed header ${name} is missing from the request.`);
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return new HttpRequest({ method: req.method ?? 'GET', protocol: 'http:', hostname: 'unused', path: rawPath, query, headers });
}

function compare(expected: string, given: string): void {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  if (a.length !== 64 || a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new S3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
  }
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function hasNoBody(req: http.IncomingMessage): boolean {
  return req.headers['transfer-encoding'] === undefined && (req.headers['content-length'] === undefined || req.headers['content-length'] === '0');
}

function parseAmzDate(text: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  const d = m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : null;
  if (!d || Number.isNaN(d.getTime())) throw new S3Error('AccessDenied', 'X-Amz-Date must be in the ISO 8601 basic format yyyyMMddTHHmmssZ.');
  return d;
}
