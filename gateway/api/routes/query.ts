// Reading a list endpoint's query string the same way everywhere: each endpoint's parameters are one zod
// object, which parses the request and is also what the OpenAPI document (gateway/api/openapi/) describes.
// Unknown parameters are refused, each is given at most once, limits and times are checked — every refusal
// a 400 naming the parameter (field query.NAME). Messages are written without the name; it is put in front.

import { z } from 'zod';
import { StratusError } from '../../../core/errors.js';

export function badQuery(key: string, message: string): StratusError {
  return new StratusError('INVALID_REQUEST', message, { field: `query.${key}` });
}

/** A whole number from 1 to max; described to clients as the integer it is (the wire form is text). */
export function limitParam(max: number, description: string) {
  const message = `must be a whole number from 1 to ${max}`;
  return z
    .string()
    .regex(/^\d{1,7}$/, message)
    .transform(Number)
    .pipe(z.number().min(1, message).max(max, message))
    .meta({
      description,
      // zod-openapi's hook: the rendered schema is the integer a client sends, not the digits' pattern.
      override: ({ jsonSchema }: { jsonSchema: Record<string, unknown> }) => {
        delete jsonSchema.pattern;
        Object.assign(jsonSchema, { type: 'integer', minimum: 1, maximum: max });
      },
    });
}

/** An ISO 8601 time (anything Date.parse reads), normalized to UTC. */
export function timeParam(example: string, description: string) {
  return z
    .string()
    .refine((v) => !Number.isNaN(Date.parse(v)), `must be an ISO 8601 time, e.g. ${example}`)
    .transform((v) => new Date(Date.parse(v)).toISOString())
    .meta({ description, example });
}

/** One of the allowed values. */
export function oneOfParam<T extends string>(values: readonly T[], description: string) {
  return z.enum(values as readonly [T, ...T[]], { error: `must be one of ${values.join(', ')}` }).meta({ description });
}

/**
 * The query as `schema` reads it; INVALID_REQUEST naming the parameter otherwise. Values reach the schema
 * as strings only: a repeated parameter (an array) or a bracketed one (an object) is refused first.
 */
export function parseQuery<S extends z.ZodObject>(schema: S, query: Record<string, unknown>): z.output<S> {
  const known = Object.keys(schema.shape);
  for (const [key, value] of Object.entries(query)) {
    if (!known.includes(key)) throw badQuery(key, `unknown query parameter "${key}"; use ${known.join(', ')}`);
    if (typeof value !== 'string') throw badQuery(key, `give "${key}" once, as a plain value`);
  }
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = String(issue.path[0]);
  throw badQuery(key, `"${key}" ${issue.message}`);
}
