// The Idempotency-Key header, read the same way by /v1's async submissions and a function URL's async
// intake (gateway/dataplane/async-intake.ts); its scope comes from who sent it (control/invocations/idempotency.ts).

import type http from 'node:http';
import { z } from 'zod';
import { StratusError } from '../../core/errors.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** The Idempotency-Key header's value (also its description in the OpenAPI document). */
export const idempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,200}$/).meta({ description: 'the same key within the idempotency window answers the first submission again (duplicate: true) instead of queuing another' });

/** The Idempotency-Key header (one, 1–200 printable characters), if given. */
export function idempotencyKey(req: Pick<http.IncomingMessage, 'headers'>): string | undefined {
  const v = req.headers[IDEMPOTENCY_HEADER];
  if (v === undefined) return undefined;
  const given = idempotencyKeySchema.safeParse(v);
  if (!given.success) {
    throw new StratusError('INVALID_REQUEST', 'give one Idempotency-Key header of 1 to 200 printable characters', { field: 'headers.idempotency-key' });
  }
  return given.data;
}
