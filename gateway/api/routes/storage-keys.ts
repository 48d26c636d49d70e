// S3 access keys for the object storage (services/storage/): POST /v1/storage/keys issues one and answers its
// secret once; GET lists the key ids with their scopes; DELETE /v1/storage/keys/:id revokes one at once.
// Admin-key auth, like the rest of /v1. A key's scope (buckets and rights, services/storage/scope.ts) is
// given in the POST's body, {"scope":{"buckets":[…],"access":[…]}}; without one it is every bucket and right.

import express, { type Router } from 'express';
import { StratusError } from '../../../core/errors.js';
import { parseKeyRequest, type KeyScope } from '../../../services/storage/scope.js';

export interface StorageKeyIssuer {
  create(scope: KeyScope): Promise<{ accessKeyId: string; secretAccessKey: string; created: string; scope: KeyScope }>;
  list(): { accessKeyId: string; created: string; scope: KeyScope }[];
  revoke(accessKeyId: string): Promise<boolean>;
}

// Any content type: a scope sent as text/plain must not silently become a key for every bucket.
const json = express.json({ limit: '64kb', type: () => true });

export function storageKeysRouter(keys: StorageKeyIssuer, s3Url: string): Router {
  const router = express.Router();
  router.post('/storage/keys', json, async (req, res) => {
    const key = await keys.create(parseKeyRequest(req.body));
    res.status(201).json({ ...key, endpoint: s3Url, note: 'the secret is shown once; sign S3 requests with it (SigV4, path-style, any region)' });
  });
  router.get('/storage/keys', (_req, res) => {
    res.json({ keys: keys.list(), endpoint: s3Url });
  });
  router.delete('/storage/keys/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!(await keys.revoke(id))) throw new StratusError('NOT_FOUND', `no storage access key ${JSON.stringify(id.slice(0, 100))}; list them with GET /v1/storage/keys`);
    res.status(204).end();
  });
  return router;
}
