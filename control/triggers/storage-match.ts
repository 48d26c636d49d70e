// What a storage trigger matches and what its function receives, as pure functions of an object event:
// the dispatcher (storage-dispatcher.ts) applies them to Stratus's own object events and to the ones a
// MinIO posts to /v1/hooks/storage/minio alike, so both sources behave the same.
//
// Matching follows S3's notification rules: the bucket, an event name (a wildcard stands for the events
// S3 lists under it — MinIO's own extras such as PutTagging or PutRetention change no object's content
// and match only when named, which the trigger schema does not allow), and a case-sensitive key prefix
// and suffix. The record is S3's event message (version 2.1), with the key form-encoded as S3 writes it.

import { createHash } from 'node:crypto';
import type { StorageTrigger } from '../../core/triggers.js';

/** One object change, from either source, with the key as stored (not encoded). */
export interface ObjectEvent {
  source: StorageTrigger['source'];
  /** S3's event name without "s3:", e.g. "ObjectCreated:Put". */
  name: string;
  bucket: string;
  key: string;
  /** Bytes (0 for a removal). */
  size: number;
  /** ETag without quotes ('' for a removal). */
  etag: string;
  /** ISO 8601 time of the change. */
  time: string;
  /** Hex; a greater value (after left-padding to equal length) is a later change of the same key. */
  sequencer: string;
  region: string;
  /** A MinIO object version, when versioning is on. */
  versionId?: string;
}

export const STORAGE_CE_TYPE_PREFIX = 'dev.stratus.storage.';
/** The region Stratus's own storage names in its events (it accepts any in a signature: there is one). */
export const STRATUS_REGION = 'us-east-1';

/** The concrete events a wildcard pattern stands for: S3's lists for s3:ObjectCreated:* and s3:ObjectRemoved:*. */
const WILDCARDS: Record<string, readonly string[]> = {
  'ObjectCreated:*': ['ObjectCreated:Put', 'ObjectCreated:Post', 'ObjectCreated:Copy', 'ObjectCreated:CompleteMultipartUpload'],
  'ObjectRemoved:*': ['ObjectRemoved:Delete', 'ObjectRemoved:DeleteMarkerCreated'],
};

export function eventMatches(pattern: string, name: string): boolean {
  return pattern === name || (WILDCARDS[pattern]?.includes(name) ?? false);
}

/** Whether `t` fires for `e`: same source and bucket, an event it lists, the key within its filter. */
export function triggerMatches(t: StorageTrigger, e: ObjectEvent): boolean {
  if (t.source !== e.source || t.bucket !== e.bucket) return false;
  if (!t.events.some((p) => eventMatches(p, e.name))) return false;
  const f = t.filter;
  return (f?.prefix === undefined || e.key.startsWith(f.prefix)) && (f?.suffix === undefined || e.key.endsWith(f.suffix));
}

export const isRemoval = (name: string): boolean => name.startsWith('ObjectRemoved:');

/**
 * A key as S3 writes it in an event record (application/x-www-form-urlencoded): a space is "+", "/" stays,
 * every other byte outside A-Z a-z 0-9 - _ . ~ is %XX of its UTF-8. Decode with
 * decodeURIComponent(key.replace(/\+/g, ' ')) or Python's urllib.parse.unquote_plus.
 */
export function encodeEventKey(key: string): string {
  return encodeURIComponent(key)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
    .replace(/%2F/g, '/');
}

/**
 * A CloudEvent attribute as an HTTP header value: the CloudEvents HTTP binding percent-encodes space, '"',
 * '%' and everything outside printable ASCII (UTF-8 bytes), so any key is a valid header.
 */
export function ceHeaderValue(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    out += code > 0x20 && code < 0x7f && ch !== '"' && ch !== '%' ? ch : [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return out;
}

/** The function's event data: S3's notification message with one record, `configurationId` the trigger's id. */
export function s3EventMessage(t: StorageTrigger, e: ObjectEvent): { Records: [Record<string, unknown>] } {
  const object = {
    key: encodeEventKey(e.key),
    // As S3 does: a removal names the key and its sequencer, no size or ETag.
    ...(isRemoval(e.name) ? {} : { size: e.size, eTag: e.etag }),
    ...(e.versionId ? { versionId: e.versionId } : {}),
    sequencer: e.sequencer,
  };
  return {
    Records: [{
      eventVersion: '2.1',
      eventSource: `${e.source}:s3`,
      awsRegion: e.region,
      eventTime: e.time,
      eventName: e.name,
      s3: { s3SchemaVersion: '1.0', configurationId: t.id, bucket: { name: e.bucket, arn: `arn:aws:s3:::${e.bucket}` }, object },
    }],
  };
}

/** The CloudEvent attributes of a fire: one type per S3 event name, a source per storage and bucket, the key as subject. */
export function cloudEventOf(e: ObjectEvent): { type: string; source: string; subject: string; time: string } {
  return {
    type: `${STORAGE_CE_TYPE_PREFIX}${e.name}`,
    source: e.source === 'minio' ? `/minio/${e.bucket}` : `/storage/${e.bucket}`,
    subject: ceHeaderValue(e.key),
    time: e.time,
  };
}

/**
 * The idempotency key of one trigger's fire for one change: a repeated delivery of the same change (a
 * MinIO retry sends the same record, sequencer included) names the same key, so it queues nothing new.
 */
export function fireKey(t: StorageTrigger, e: ObjectEvent): string {
  const digest = createHash('sha256').update(JSON.stringify([t.id, e.source, e.bucket, e.key, e.name, e.etag, e.sequencer, e.versionId ?? ''])).digest('hex');
  return `storage:${digest}`;
}
