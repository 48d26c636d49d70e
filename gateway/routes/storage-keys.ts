// S3 access keys for the object storage (gateway/storage/): POST /v1/storage/keys issues one and answers its
// secret once; GET lists the key ids; DELETE /v1/storage/keys/:id revokes one at once. Admin-key auth, like
// the rest of /v1.

import express, { type Router } from 'express';
import { StratusError } from '../../core/errors.js';

export interface StorageKeyIssuer {
  create(): Promise<{ accessKeyId: string; secretAccessKey: string; created: string }>;
  list(): { accessKeyId: string; created: string }[];
  revoke(accessKeyId: string): Promise<boolean>;
}

export function storageKeysRouter(keys: StorageKeyIssuer, s3Url: string): Router {
  const router = express.Router();
  router.post('/storage/keys', async (_req, res) => {
    const key = await keys.create();
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
