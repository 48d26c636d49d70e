// Operator actions on the platform itself. POST /v1/admin/gc deletes every function's old images now
// (the same rule as after each build: builder/image-retention.ts) and says what stayed and why. Deleting
// tags frees no disk by itself: the registry's garbage collection (`npm run gc`) does, afterwards.

import express, { type Router } from 'express';
import type { ImageGcResult } from '../../../builder/image-retention.js';

export interface ImageCollector {
  collectAll(): Promise<ImageGcResult[]>;
}

export function adminRouter(images: ImageCollector): Router {
  const router = express.Router();
  router.post('/admin/gc', async (_req, res) => {
    const functions = await images.collectAll();
    res.json({
      deleted: functions.reduce((n, f) => n + f.deleted.length, 0),
      functions,
      next: 'the registry frees the deleted images\' disk at its garbage collection: run `npm run gc` where the registry runs',
    });
  });
  return router;
}
