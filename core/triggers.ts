// Triggers: what makes a function run besides a plain call of its URL. Three types, validated once here
// (the API and the deploy config's `triggers` list both come through parseTrigger), each error naming the
// field and what is wrong:
//   http     the function URL's settings: public or invoke-key auth, allowed methods, CORS (at most one
//            per function; without one the URL is public, any method, no CORS — as before triggers existed)
//   cron     a 5- or 6-field node-cron expression in an IANA time zone, a JSON payload, an overlap policy
//   storage  object events of Stratus's own S3 storage (or of a MinIO that posts its webhooks to Stratus),
//            filtered by bucket, event, key prefix and suffix
// Triggers belong to the function, not to a version: a new upload does not change them unless its config
// carries a `triggers` list (then that list replaces them all), and a rollback never does.

import cron from 'node-cron';
import { z } from 'zod';
import { StratusError } from './errors.js';

export const TRIGGER_TYPES = ['http', 'cron', 'storage'] as const;
export type TriggerType = (typeof TRIGGER_TYPES)[number];

/** Triggers per function: schedules and filters are matched in memory by every replica. */
export const MAX_TRIGGERS_PER_FUNCTION = 50;
/** A cron payload is queued with every tick: bounded like an async invocation's body, smaller. */
export const MAX_CRON_PAYLOAD_BYTES = 64 * 1024;

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const methodList = z
  .array(z.string().transform((m) => m.toUpperCase()).pipe(z.enum(HTTP_METHODS, { message: `each method is one of ${HTTP_METHODS.join(', ')}` })))
  .min(1, 'give at least one method, or leave the field out to allow every method')
  .max(HTTP_METHODS.length)
  .transform((ms) => [...new Set(ms)]);
/** A header name as RFC 9110 allows it (token characters). */
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/, 'must be a header name').transform((h) => h.toLowerCase());
/** "*" or an origin as browsers send it: scheme://host[:port], nothing after. */
const origin = z.string().max(300).regex(/^(\*|https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?)$/, 'must be "*" or an origin such as https://app.example.com (scheme, host and port only)');

const corsSchema = z
  .strictObject({
    allowOrigins: z.array(origin).min(1, 'give at least one origin, or "*"').max(100),
    allowMethods: methodList.optional(),
    allowHeaders: z.array(headerName).max(100).optional(),
    exposeHeaders: z.array(headerName).max(100).optional(),
    maxAgeSeconds: z.number().int().min(0).max(86_400).default(600),
    allowCredentials: z.boolean().default(false),
  })
  // The Fetch standard refuses a credentialed response whose allowed origin is "*": say so now, not in a browser.
  .refine((c) => !(c.allowCredentials && c.allowOrigins.includes('*')), { message: 'allowCredentials cannot be combined with the origin "*": list the origins', path: ['allowCredentials'] });

const httpSchema = z.strictObject({
  type: z.literal('http'),
  /** "public": anyone may call the URL; "key": only with an invoke key (POST /v1/functions/:name/keys) in x-stratus-key. */
  auth: z.enum(['public', 'key']).default('public'),
  /** Methods the URL accepts (others: 405); unset: any method. */
  methods: methodList.optional(),
  /** Answered by the gateway: preflights never reach the function. */
  cors: corsSchema.optional(),
});

const cronSchema = z.strictObject({
  type: z.literal('cron'),
  schedule: z.string().max(200).superRefine((s, ctx) => {
    const problem = cronProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  timezone: z.string().max(100).default('UTC').refine(isTimeZone, 'must be an IANA time zone such as "UTC" or "Europe/Paris"'),
  /** The event's data on every tick (any JSON). */
  payload: z.unknown().default(null).refine((p) => Buffer.byteLength(JSON.stringify(p ?? null)) <= MAX_CRON_PAYLOAD_BYTES, `must be at most ${MAX_CRON_PAYLOAD_BYTES} bytes of JSON`),
  /** "skip": a tick while the last fire is still queued or running fires nothing; "allow": every tick fires. */
  overlap: z.enum(['skip', 'allow']).default('skip'),
});

export const STORAGE_EVENTS = ['ObjectCreated:*', 'ObjectCreated:Put', 'ObjectCreated:Post', 'ObjectCreated:Copy', 'ObjectCreated:CompleteMultipartUpload', 'ObjectRemoved:*', 'ObjectRemoved:Delete'] as const;
export type StorageEventPattern = (typeof STORAGE_EVENTS)[number];

const filterValue = (what: string) => z.string().min(1, `an empty ${what} matches everything: leave it out instead`).max(1024);
const storageSchema = z.strictObject({
  type: z.literal('storage'),
  /** "stratus": Stratus's own S3 storage; "minio": events a MinIO posts to /v1/hooks/storage/minio. */
  source: z.enum(['stratus', 'minio']).default('stratus'),
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 characters of a-z, 0-9, "." and "-")'),
  /** S3's event names, with or without the "s3:" prefix AWS and MinIO write. */
  events: z
    .array(z.string().transform((e) => e.replace(/^s3:/, '')).pipe(z.enum(STORAGE_EVENTS, { message: `each event is one of ${STORAGE_EVENTS.join(', ')}` })))
    .min(1, 'give at least one event, e.g. "ObjectCreated:*"')
    .default(['ObjectCreated:*']),
  filter: z
    .strictObject({ prefix: filterValue('prefix').optional(), suffix: filterValue('suffix').optional() })
    .refine((f) => f.prefix !== undefined || f.suffix !== undefined, 'an empty filter matches everything: give a prefix or a suffix, or leave the filter out')
    .optional(),
});

const triggerSchemas = { http: httpSchema, cron: cronSchema, storage: storageSchema } as const;
/** Any one trigger, by its type: what parseTrigger validates, as one schema for the OpenAPI document. */
export const triggerSchema = z.discriminatedUnion('type', [httpSchema, cronSchema, storageSchema]);

export type HttpTriggerSpec = z.output<typeof httpSchema>;
export type CronTriggerSpec = z.output<typeof cronSchema>;
export type StorageTriggerSpec = z.output<typeof storageSchema>;
export type CorsSettings = z.output<typeof corsSchema>;
export type TriggerSpec = HttpTriggerSpec | CronTriggerSpec | StorageTriggerSpec;

interface TriggerMeta {
  /** "http" for the http trigger (one per function), a random id for the others. */
  id: string;
  function: string;
  createdAt: string;
}
export type TriggerRecord = TriggerMeta & TriggerSpec;
export type CronTrigger = TriggerMeta & CronTriggerSpec;
export type StorageTrigger = TriggerMeta & StorageTriggerSpec;
export type HttpTrigger = TriggerMeta & HttpTriggerSpec;

/** The http trigger's fixed id: a function has at most one, and its URL is /v1/functions/NAME/triggers/http. */
export const HTTP_TRIGGER_ID = 'http';

/** Parses one trigger (a request body or an entry of the deploy config's list); INVALID_TRIGGER naming the field otherwise. */
export function parseTrigger(input: unknown, field = 'body'): TriggerSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new StratusError('INVALID_TRIGGER', `${field}: a trigger is a JSON object with a "type"`, { field });
  }
  const type = (input as { type?: unknown }).type;
  if (typeof type !== 'string' || !(TRIGGER_TYPES as readonly string[]).includes(type)) {
    const given = type === undefined ? 'no type' : `unknown trigger type ${JSON.stringify(type).slice(0, 60)}`;
    throw new StratusError('INVALID_TRIGGER', `${field}.type: ${given}; use one of ${TRIGGER_TYPES.join(', ')}`, { field: `${field}.type` });
  }
  const result = triggerSchemas[type as TriggerType].safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ field: [field, ...i.path.map(String)].join('.'), message: i.message }));
  const first = issues[0]!;
  throw new StratusError('INVALID_TRIGGER', `${first.field}: ${first.message}`, { field: first.field, errors: issues.map((i) => `${i.field}: ${i.message}`) });
}

/** The deploy config's `triggers`: a list, at most one http trigger, bounded in length. */
export function parseTriggerList(input: unknown, field = 'config.triggers'): TriggerSpec[] {
  if (!Array.isArray(input)) throw new StratusError('INVALID_TRIGGER', `${field}: must be a list of triggers`, { field });
  if (input.length > MAX_TRIGGERS_PER_FUNCTION) throw new StratusError('INVALID_TRIGGER', `${field}: at most ${MAX_TRIGGERS_PER_FUNCTION} triggers per function`, { field });
  const specs = input.map((t, i) => parseTrigger(t, `${field}.${i}`));
  if (specs.filter((s) => s.type === 'http').length > 1) {
    throw new StratusError('INVALID_TRIGGER', `${field}: a function has at most one http trigger (its URL's settings)`, { field });
  }
  return specs;
}

/** Why a cron expression is refused, in words; null when node-cron accepts it. */
function cronProblem(expression: string): string | null {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    return `must have 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first); "${expression.slice(0, 80)}" has ${fields.length}`;
  }
  const detail = cron.validateDetailed(expression);
  if (detail.valid) return null;
  const why = detail.errors.map((e) => `${e.field}${e.value === undefined ? '' : ` "${e.value}"`}: ${e.message}`).join('; ');
  return `is not a valid cron expression (${why || 'node-cron refuses it'})`;
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
