// Bearer API key check for the control plane. Both sides are hashed first so the comparison is
// constant-time whatever the length of the presented key.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { StratusError } from '../core/errors.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function requireApiKey(apiKey: string): RequestHandler {
  const expected = digest(apiKey);
  return (req, _res, next) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match && timingSafeEqual(digest(match[1]!.trim()), expected)) return next();
    next(
      new StratusError(
        'UNAUTHORIZED',
        match ? 'the API key is wrong' : 'send the API key as "Authorization: Bearer <key>"',
        { field: 'authorization' },
      ),
    );
  };
}
