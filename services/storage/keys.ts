// S3 access keys (POST /v1/storage/keys). SigV4 needs the secret itself on the verifying side (it is the
// HMAC key), so a hash cannot be stored. The keys never go to Redis (a Redis dump or replica hands out
// nothing): they live on this node's disk beside the objects they guard, in
// <stateDir>/storage/access-keys.json, each secret sealed with AES-256-GCM under a random 256-bit key in
// <stateDir>/storage/access-keys.seal (both 0600). A copy of the keys file alone (a backup, a support
// bundle) does not reveal a secret; whoever can read the whole state dir can read the objects anyway.
// Each key carries its scope (scope.ts) in the clear beside its id; a record written before scopes existed
// has none and reads as the full scope it has always had.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { StateLayout } from '../../core/state-layout.js';
import { writeFileAtomic } from './disk.js';
import { FULL_SCOPE, storedScope, type KeyScope } from './scope.js';
import type { SecretLookup } from './sigv4.js';

export interface AccessKeyInfo {
  accessKeyId: string;
  created: string;
  scope: KeyScope;
}

interface StoredKey extends Omit<AccessKeyInfo, 'scope'> {
  /** base64 of iv (12) | tag (16) | ciphertext. */
  sealed: string;
  /** Absent in records from before scopes: the full scope. */
  scope?: unknown;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export class AccessKeys implements SecretLookup {
  private readonly file: string;
  private readonly sealFile: string;
  private readonly tmpDir: string;
  private sealKey: Buffer = Buffer.alloc(0);
  private stored: StoredKey[] = [];
  private readonly secrets = new Map<string, string>();
  private readonly scopes = new Map<string, KeyScope>();

  constructor(stateDir: string) {
    const dir = new StateLayout(stateDir).storage;
    this.file = path.join(dir, 'access-keys.json');
    this.sealFile = path.join(dir, 'access-keys.seal');
    this.tmpDir = path.join(dir, 'tmp');
  }

  async load(): Promise<void> {
    await fsp.mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    try {
      this.sealKey = await fsp.readFile(this.sealFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.sealKey = randomBytes(32);
      await writeFileAtomic(this.tmpDir, this.sealFile, this.sealKey);
    }
    if (this.sealKey.length !== 32) throw new Error(`${this.sealFile} is not a 32-byte key; remove it and access-keys.json to start over`);
    try {
      this.stored = (JSON.parse(await fsp.readFile(this.file, 'utf8')) as { keys: StoredKey[] }).keys;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.stored = [];
    }
    this.secrets.clear();
    this.scopes.clear();
    for (const k of this.stored) {
      this.secrets.set(k.accessKeyId, this.unseal(k.sealed));
      this.scopes.set(k.accessKeyId, storedScope(k.scope));
    }
  }

  /** What a key may touch; nothing for a key this node does not hold (its signature check fails first). */
  scopeOf(accessKeyId: string): KeyScope {
    return this.scopes.get(accessKeyId) ?? { buckets: [], access: [] };
  }

  secretOf(accessKeyId: string): string | undefined {
    return this.secrets.get(accessKeyId);
  }

  list(): AccessKeyInfo[] {
    return this.stored.map(({ accessKeyId, created }) => ({ accessKeyId, created, scope: this.scopeOf(accessKeyId) }));
  }

  /** Issues a key; the secret is returned here once and never shown again. */
  async create(scope: KeyScope = FULL_SCOPE): Promise<AccessKeyInfo & { secretAccessKey: string }> {
    const bytes = randomBytes(16);
    const accessKeyId = `STRA${[...bytes].map((b) => ID_ALPHABET[b & 31]).join('')}`;
    const secretAccessKey = randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B');
    const entry: StoredKey = { accessKeyId, created: new Date().toISOString(), scope, sealed: this.seal(secretAccessKey) };
    await this.save([...this.stored, entry]);
    this.scopes.set(accessKeyId, scope);
    this.secrets.set(accessKeyId, secretAccessKey);
    return { accessKeyId, created: entry.created, scope, secretAccessKey };
  }

  /** Revokes a key at once; returns whether it existed. */
  async revoke(accessKeyId: string): Promise<boolean> {
    if (!this.secrets.has(accessKeyId)) return false;
    this.secrets.delete(accessKeyId);
    this.scopes.delete(accessKeyId);
    await this.save(this.stored.filter((k) => k.accessKeyId !== accessKeyId));
    return true;
  }

  private async save(keys: StoredKey[]): Promise<void> {
    await writeFileAtomic(this.tmpDir, this.file, JSON.stringify({ keys }, null, 2));
    this.stored = keys;
  }

  private seal(secret: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, iv);
    const ct = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
  }

  private unseal(sealed: string): string {
    const raw = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.sealKey, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
