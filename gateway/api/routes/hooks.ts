// Webhooks other systems post to Stratus, mounted before the admin-key check (they cannot send it):
//   POST /v1/hooks/storage/minio  bucket notifications of a MinIO's webhook target (notify_webhook), fed
//                                 to the storage triggers whose source is "minio"
//
// MinIO posts one event per request: {"EventName":"s3:ObjectCreated:Put","Key":"bucket/key","Records":[…]}
// with "Authorization: Bearer <auth_token>", the record's s3.object.key form-encoded (Go's
// url.QueryEscape: "+" for a space, "/" as %2F). A 2xx is success to MinIO; anything else is retried when
// it keeps a queue_dir. MinIO releases before mid-2023 probed the endpoint with a HEAD first (later ones
// only open a TCP connection): HEAD answers like POST without a body.

import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import { StratusError } from '../../../core/errors.js';
import type { DispatchSummary } from '../../../control/triggers/storage-dispatcher.js';
import type { ObjectEvent } from '../../../control/triggers/storage-match.js';

export const MINIO_HOOK_PATH = '/hooks/storage/minio';
/** MinIO sends one event per request, a few KiB with user metadata: 256 KiB is ample and bounds a bad sender. */
export const MAX_HOOK_BODY_BYTES = 256 * 1024;
/** Records taken from one request (MinIO sends one). */
const MAX_RECORDS = 100;

export interface MinioEventSink {
  fromMinio(events: ObjectEvent[]): Promise<DispatchSummary>;
}

export interface HooksRouterDeps {
  /** STRATUS_MINIO_WEBHOOK_TOKEN; null: the MinIO hook is off. */
  minioToken: string | null;
  /** The storage dispatcher; absent: the hook is off. */
  storageTriggers?: MinioEventSink;
}

const json = express.json({ limit: MAX_HOOK_BODY_BYTES, type: () => true });
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function hooksRouter(deps: HooksRouterDeps): Router {
  const router = express.Router();
  const sink = deps.storageTriggers;
  if (deps.minioToken === null || !sink) {
    router.all(MINIO_HOOK_PATH, () => {
      throw new StratusError('HOOK_NOT_CONFIGURED', 'the MinIO webhook is not configured on this Stratus: set STRATUS_MINIO_WEBHOOK_TOKEN (and MinIO\'s notify_webhook auth_token to the same value), then restart', { field: 'STRATUS_MINIO_WEBHOOK_TOKEN' });
    });
    return router;
  }
  const expected = sha256(`Bearer ${deps.minioToken}`);
  /** Checked before the body is read: an unauthenticated sender never gets it parsed. */
  const authorize: RequestHandler = (req, _res, next) => {
    const given = req.headers.authorization;
    // Both sides hashed first: the comparison takes the same time whatever the length of what was sent.
    if (given !== undefined && timingSafeEqual(sha256(given.trim()), expected)) return next();
    throw new StratusError('UNAUTHORIZED', given === undefined ? 'send MinIO\'s auth_token as "Authorization: Bearer <token>"' : 'the MinIO webhook token is wrong: it must be STRATUS_MINIO_WEBHOOK_TOKEN', { field: 'authorization' });
  };

  router.head(MINIO_HOOK_PATH, authorize, (_req, res) => {
    res.status(200).end();
  });

  router.post(MINIO_HOOK_PATH, authorize, json, async (req, res) => {
    const events = parseMinioBody(req.body);
    const summary = await sink.fromMinio(events);
    if (summary.unqueued > 0) {
      throw new StratusError('INTERNAL', `${summary.unqueued} of ${summary.matched} matching trigger(s) could not queue their invocation (the gateway log says why); deliver the event again — fires already queued are not repeated`);
    }
    res.status(200).json({ records: events.length, ...summary });
  });

  return router;
}

const hex = /^[0-9A-Fa-f]{1,64}$/;
const recordSchema = z.object({
  eventName: z.string().regex(/^s3:[A-Za-z]+:[A-Za-z*]+$/, 'must be an S3 event name such as "s3:ObjectCreated:Put"'),
  eventTime: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time such as "2024-05-01T12:00:00.000Z"' }),
  awsRegion: z.string().max(100).optional(),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1).max(255) }),
    object: z.object({
      // Form-encoded: a 1024-byte key can take three times as many characters.
      key: z.string().min(1).max(3 * 1024),
      size: z.number().int().min(0).optional(),
      eTag: z.string().max(200).optional(),
      versionId: z.string().max(200).optional(),
      sequencer: z.string().regex(hex, 'must be a hexadecimal sequencer').optional(),
    }),
  }),
});
/** MinIO's webhook body (also what the OpenAPI document describes). */
export const minioEventSchema = z.object({
  EventName: z.string().max(200).optional(),
  Key: z.string().max(4096).optional(),
  Records: z.array(recordSchema).min(1, 'MinIO sends at least one record').max(MAX_RECORDS),
});

/** MinIO's body → object events (keys decoded); INVALID_REQUEST naming the first field that is wrong. */
export function parseMinioBody(body: unknown): ObjectEvent[] {
  const parsed = minioEventSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = ['body', ...issue.path.map(String)].join('.');
    throw new StratusError('INVALID_REQUEST', `${field}: ${issue.message}; expected MinIO's webhook event {"EventName":…,"Key":…,"Records":[…]}`, { field });
  }
  return parsed.data.Records.map((r, i) => {
    const o = r.s3.object;
    return {
      source: 'minio',
      name: r.eventName.slice('s3:'.length),
      bucket: r.s3.bucket.name,
      key: queryUnescape(o.key, `body.Records.${i}.s3.object.key`),
      size: o.size ?? 0,
      etag: o.eTag ?? '',
      time: new Date(r.eventTime).toISOString(),
      sequencer: o.sequencer ?? '',
      region: r.awsRegion ?? '',
      ...(o.versionId ? { versionId: o.versionId } : {}),
    };
  });
}

/** Go's url.QueryUnescape, which MinIO's escaping is undone with: "+" is a space, %XX a byte of UTF-8. */
function queryUnescape(s: string, field: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new StratusError('INVALID_REQUEST', `${field}: not a form-encoded key (a "%" not followed by two hex digits, or bytes that are not UTF-8)`, { field });
  }
}
