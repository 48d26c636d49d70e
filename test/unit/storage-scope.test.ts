// S3 key scopes (services/storage/scope.ts, access.ts, keys.ts): what POST /v1/storage/keys accepts and the
// field each refusal names, which buckets a pattern covers, which right each request needs (decided from
// the method and path, so an operation the router adds later cannot be reached with less), the copy
// source's bucket, and keys stored before scopes existed.

import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StratusError } from '../../core/errors.js';
import { authorize, neededRight } from '../../services/storage/access.js';
import { S3Error } from '../../services/storage/errors.js';
import { AccessKeys } from '../../services/storage/keys.js';
import { allows, coversBucket, FULL_SCOPE, parseKeyRequest, storedScope, type KeyScope } from '../../services/storage/scope.js';

function refusal(body: unknown): { field: unknown; message: string } {
  try {
    parseKeyRequest(body);
  } catch (err) {
    expect(err).toBeInstanceOf(StratusError);
    expect((err as StratusError).code).toBe('INVALID_REQUEST');
    return { field: (err as StratusError).details.field, message: (err as StratusError).message };
  }
  throw new Error(`accepted ${JSON.stringify(body)}`);
}

const req = (method: string, headers: Record<string, string> = {}) => ({ method, headers }) as unknown as http.IncomingMessage;

function denial(scope: KeyScope, method: string, bucket: string, key = '', query: Record<string, string> = {}, headers: Record<string, string> = {}): string | undefined {
  try {
    authorize(scope, req(method, headers), bucket, key, query);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(S3Error);
    return (err as S3Error).code;
  }
}

describe('the scope in POST /v1/storage/keys', () => {
  it('is every bucket and right without a body or without a scope, and shown so', () => {
    expect(parseKeyRequest(undefined)).toEqual({ buckets: ['*'], access: ['read', 'write', 'manage'] });
    expect(parseKeyRequest({})).toEqual(FULL_SCOPE);
  });

  it('takes names and patterns, drops repeats, orders rights, and lets "*" stand alone', () => {
    expect(parseKeyRequest({ scope: { buckets: ['photos', 'logs-*', 'photos'], access: ['write', 'read', 'write'] } })).toEqual({ buckets: ['photos', 'logs-*'], access: ['read', 'write'] });
    expect(parseKeyRequest({ scope: { buckets: ['photos', '*'], access: ['manage'] } })).toEqual({ buckets: ['*'], access: ['manage'] });
  });

  it('refuses what is wrong, naming the field', () => {
    expect(refusal({ scope: { buckets: [], access: ['read'] } }).field).toBe('body.scope.buckets');
    expect(refusal({ scope: { buckets: ['Photos'], access: ['read'] } }).field).toBe('body.scope.buckets.0');
    expect(refusal({ scope: { buckets: ['ok-bucket', 'a'], access: ['read'] } }).field).toBe('body.scope.buckets.1');
    expect(refusal({ scope: { buckets: ['ph*otos'], access: ['read'] } }).field).toBe('body.scope.buckets.0');
    expect(refusal({ scope: { buckets: ['photos-**'], access: ['read'] } }).field).toBe('body.scope.buckets.0');
    expect(refusal({ scope: { buckets: ['-x*'], access: ['read'] } }).field).toBe('body.scope.buckets.0');
    expect(refusal({ scope: { buckets: [7], access: ['read'] } }).field).toBe('body.scope.buckets.0');
    expect(refusal({ scope: { buckets: Array.from({ length: 101 }, (_, i) => `b-${i}x`), access: ['read'] } }).field).toBe('body.scope.buckets');
    expect(refusal({ scope: { buckets: ['photos'], access: [] } }).field).toBe('body.scope.access');
    expect(refusal({ scope: { buckets: ['photos'], access: ['admin'] } }).field).toBe('body.scope.access.0');
    expect(refusal({ scope: { buckets: ['photos'], access: 'read' } }).field).toBe('body.scope.access');
    expect(refusal({ scope: { buckets: ['photos'] } }).field).toBe('body.scope.access');
    expect(refusal({ scope: { access: ['read'] } }).field).toBe('body.scope.buckets');
    expect(refusal({ scope: null }).field).toBe('body.scope');
    expect(refusal({ scope: { buckets: ['photos'], access: ['read'], prefix: 'a/' } }).field).toBe('body.scope.prefix');
    expect(refusal({ buckets: ['photos'], access: ['read'] }).field).toBe('body.buckets');
    expect(refusal(['photos']).field).toBe('body');
    expect(refusal({ scope: { buckets: ['photos'], access: ['admin'] } }).message).toMatch(/read.*write.*manage/);
  });
});

describe('which buckets a scope covers', () => {
  const scope: KeyScope = { buckets: ['photos', 'team-*'], access: ['read'] };

  it('matches exact names and the start of a pattern, nothing else', () => {
    expect(coversBucket(scope, 'photos')).toBe(true);
    expect(coversBucket(scope, 'team-a')).toBe(true);
    expect(coversBucket(scope, 'team-')).toBe(true);
    expect(coversBucket(scope, 'photos2')).toBe(false);
    expect(coversBucket(scope, 'xphotos')).toBe(false);
    expect(coversBucket(scope, 'team')).toBe(false);
    expect(coversBucket(scope, 'teams')).toBe(false);
    expect(coversBucket(FULL_SCOPE, 'anything')).toBe(true);
  });

  it('needs the right as well as the bucket', () => {
    expect(allows(scope, 'photos', 'read')).toBe(true);
    expect(allows(scope, 'photos', 'write')).toBe(false);
    expect(allows(scope, 'other', 'read')).toBe(false);
  });
});

describe('the right a request needs', () => {
  it('reads with GET and HEAD, writes objects otherwise, manages buckets with PUT and DELETE', () => {
    expect(neededRight('GET', 'k')).toBe('read');
    expect(neededRight('HEAD', 'k')).toBe('read');
    expect(neededRight('GET', '')).toBe('read');
    for (const m of ['PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'FOO']) expect(neededRight(m, 'k'), m).toBe('write');
    expect(neededRight('PUT', '')).toBe('manage');
    expect(neededRight('DELETE', '')).toBe('manage');
    expect(neededRight('POST', '')).toBe('write'); // DeleteObjects
    expect(neededRight('PATCH', '')).toBe('write');
  });

  const readOnly: KeyScope = { buckets: ['photos'], access: ['read'] };
  const writeOnly: KeyScope = { buckets: ['photos'], access: ['write'] };

  it('refuses a read-only key every write and delete, and nothing it may read', () => {
    expect(denial(readOnly, 'GET', 'photos', 'a')).toBeUndefined();
    expect(denial(readOnly, 'HEAD', 'photos', 'a')).toBeUndefined();
    expect(denial(readOnly, 'GET', 'photos')).toBeUndefined();
    expect(denial(readOnly, 'PUT', 'photos', 'a')).toBe('AccessDenied');
    expect(denial(readOnly, 'DELETE', 'photos', 'a')).toBe('AccessDenied');
    expect(denial(readOnly, 'POST', 'photos', '', { delete: '' })).toBe('AccessDenied');
    expect(denial(readOnly, 'POST', 'photos', 'a', { uploads: '' })).toBe('AccessDenied');
    expect(denial(readOnly, 'DELETE', 'photos')).toBe('AccessDenied');
    expect(denial(readOnly, 'PUT', 'photos')).toBe('AccessDenied');
  });

  it('lets a write-only key upload but not read, and tell that its bucket exists', () => {
    expect(denial(writeOnly, 'PUT', 'photos', 'a')).toBeUndefined();
    expect(denial(writeOnly, 'GET', 'photos', 'a')).toBe('AccessDenied');
    expect(denial(writeOnly, 'GET', 'photos')).toBe('AccessDenied'); // listing
    expect(denial(writeOnly, 'HEAD', 'photos')).toBeUndefined();
    expect(denial(writeOnly, 'GET', 'photos', '', { location: '' })).toBeUndefined();
    expect(denial(writeOnly, 'HEAD', 'other')).toBe('AccessDenied');
    expect(denial(writeOnly, 'PUT', 'photos')).toBe('AccessDenied'); // CreateBucket needs manage
  });

  it('checks the copy source bucket for read', () => {
    const both: KeyScope = { buckets: ['photos', 'public'], access: ['read', 'write'] };
    expect(denial(both, 'PUT', 'photos', 'a', {}, { 'x-amz-copy-source': '/public/x' })).toBeUndefined();
    expect(denial(both, 'PUT', 'photos', 'a', {}, { 'x-amz-copy-source': '/secret/x' })).toBe('AccessDenied');
    expect(denial(both, 'PUT', 'photos', 'a', {}, { 'x-amz-copy-source': 'secret%2Fx/y' })).toBe('AccessDenied');
    expect(denial(writeOnly, 'PUT', 'photos', 'a', {}, { 'x-amz-copy-source': 'photos/b' })).toBe('AccessDenied');
  });

  it('refuses everything to an empty scope, including knowing a bucket exists', () => {
    const none: KeyScope = { buckets: [], access: [] };
    for (const m of ['GET', 'HEAD', 'PUT', 'DELETE', 'POST']) expect(denial(none, m, 'photos'), m).toBe('AccessDenied');
  });
});

describe('stored keys', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the scope across a restart, reads a record from before scopes as full, and one that does not parse as nothing', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-keys-'));
    const keys = new AccessKeys(dir);
    await keys.load();
    const scoped = await keys.create({ buckets: ['photos'], access: ['read'] });
    const old = await keys.create();
    const broken = await keys.create();
    const file = path.join(dir, 'storage', 'access-keys.json');
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { keys: Record<string, unknown>[] };
    delete doc.keys[1]!.scope; // as written before scopes existed
    doc.keys[2]!.scope = { buckets: ['*'], access: ['everything'] };
    fs.writeFileSync(file, JSON.stringify(doc));

    const again = new AccessKeys(dir);
    await again.load();
    expect(again.scopeOf(scoped.accessKeyId)).toEqual({ buckets: ['photos'], access: ['read'] });
    expect(again.scopeOf(old.accessKeyId)).toEqual(FULL_SCOPE);
    expect(again.scopeOf(broken.accessKeyId)).toEqual({ buckets: [], access: [] });
    expect(again.secretOf(old.accessKeyId)).toBe(old.secretAccessKey);
    expect(again.list().map((k) => k.scope)).toEqual([{ buckets: ['photos'], access: ['read'] }, FULL_SCOPE, { buckets: [], access: [] }]);
    expect(storedScope(undefined)).toEqual(FULL_SCOPE);
    await again.revoke(scoped.accessKeyId);
    expect(again.scopeOf(scoped.accessKeyId)).toEqual({ buckets: [], access: [] });
  });
});
