// What an S3 access key may touch: which buckets (exact names, `prefix*` patterns, or `*` for every bucket)
// and which rights on them — `read` (GetObject, HeadObject, ListObjects), `write` (PutObject, CopyObject's
// destination, DeleteObject(s), every multipart operation) and `manage` (CreateBucket, DeleteBucket). The
// bucket rights are apart from object writes as in S3's IAM (s3:CreateBucket is not s3:PutObject): a key
// that uploads into `photos` cannot delete `photos` or create `photos2`. A scope is fixed at creation (issue
// a new key to change it), so a request is checked against what the operator saw when it was issued.

import { z } from 'zod';
import { StratusError } from '../../core/errors.js';
import { checkBucketName } from './names.js';

export const RIGHTS = ['read', 'write', 'manage'] as const;
export type Right = (typeof RIGHTS)[number];

export interface KeyScope {
  /** Exact bucket names, `prefix*` patterns, or `*`: every bucket. */
  buckets: string[];
  /** Sorted as RIGHTS lists them. */
  access: Right[];
}

/**
 * A key issued without a scope, and every key issued before scopes existed: all buckets, every right. It is
 * what POST /v1/storage/keys without a body has always given (docs/storage.md says so to the clients that
 * rely on it), it is shown in full in the creation answer and the listing, and only the admin key can issue
 * one — narrowing old keys silently would break the clients that hold them.
 */
export const FULL_SCOPE: KeyScope = Object.freeze({ buckets: ['*'], access: [...RIGHTS] }) as KeyScope;

export const MAX_SCOPE_BUCKETS = 100;

/** A pattern's fixed part: what a bucket name must start with (`*` alone: anything). */
const PATTERN = /^[a-z0-9][a-z0-9.-]{0,61}\*$/;

function bucketPattern(value: string, ctx: z.RefinementCtx): void {
  if (value === '*') return;
  if (value.endsWith('*')) {
    if (!PATTERN.test(value) || value.includes('..')) ctx.addIssue({ code: 'custom', message: `"${value.slice(0, 80)}" is not a bucket pattern: write the start of a bucket name (a-z, 0-9, "." and "-", from a letter or digit) followed by one "*", e.g. "photos-*"` });
    return;
  }
  try {
    checkBucketName(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value.slice(0, 80)}" is not a bucket name: 3-63 characters of a-z, 0-9, "." and "-", starting and ending with a letter or digit (or a pattern such as "photos-*", or "*" for every bucket)` });
  }
}

const scopeSchema = z.strictObject({
  buckets: z.array(z.string().max(63, 'a bucket name has at most 63 characters').superRefine(bucketPattern)).min(1, 'name at least one bucket (or "*" for every bucket)').max(MAX_SCOPE_BUCKETS, `at most ${MAX_SCOPE_BUCKETS} buckets or patterns`),
  access: z.array(z.enum(RIGHTS, { message: `each right is one of ${RIGHTS.map((r) => `"${r}"`).join(', ')}` })).min(1, `give at least one right: ${RIGHTS.map((r) => `"${r}"`).join(', ')}`),
});

/** The body of POST /v1/storage/keys (also what the OpenAPI document describes). */
export const keyRequestSchema = z.strictObject({ scope: scopeSchema.optional() }).optional();

/** The body of POST /v1/storage/keys → the key's scope; INVALID_REQUEST naming the first field that is wrong. */
export function parseKeyRequest(body: unknown): KeyScope {
  const parsed = keyRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const unknown = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
    const field = ['body', ...issue.path.map(String), ...(unknown ? [unknown] : [])].join('.');
    throw new StratusError('INVALID_REQUEST', `${field}: ${issue.message}; send {"scope":{"buckets":["photos","logs-*"],"access":["read","write"]}} (rights: read, write, manage), or no body for every bucket and right`, { field });
  }
  const scope = parsed.data?.scope;
  return scope ? normalize(scope) : FULL_SCOPE;
}

/** Duplicates dropped, rights in a fixed order, `*` alone when it is given (it covers every other entry). */
export function normalize(scope: KeyScope): KeyScope {
  const buckets = scope.buckets.includes('*') ? ['*'] : [...new Set(scope.buckets)];
  return { buckets, access: RIGHTS.filter((r) => scope.access.includes(r)) };
}

/** The scope of a stored key record; a record from before scopes (or one that does not parse) reads as full. */
export function storedScope(value: unknown): KeyScope {
  if (value === undefined) return FULL_SCOPE;
  const parsed = scopeSchema.safeParse(value);
  // A record we wrote ourselves that no longer parses is refused everything rather than given everything.
  return parsed.success ? normalize(parsed.data) : { buckets: [], access: [] };
}

export function coversBucket(scope: KeyScope, bucket: string): boolean {
  return scope.buckets.some((p) => (p.endsWith('*') ? bucket.startsWith(p.slice(0, -1)) : p === bucket));
}

export function allows(scope: KeyScope, bucket: string, right: Right): boolean {
  return scope.access.includes(right) && coversBucket(scope, bucket);
}
