// Reading a list endpoint's query string the same way everywhere: unknown parameters refused, each given
// at most once, limits and times checked — every refusal a 400 naming the parameter (field query.NAME).

import { StratusError } from '../../core/errors.js';

export function badQuery(key: string, message: string): StratusError {
  return new StratusError('INVALID_REQUEST', message, { field: `query.${key}` });
}

export class QueryReader {
  constructor(
    private readonly q: Record<string, unknown>,
    known: ReadonlySet<string>,
  ) {
    for (const key of Object.keys(q)) {
      if (!known.has(key)) throw badQuery(key, `unknown query parameter "${key}"; use ${[...known].join(', ')}`);
    }
  }

  /** The parameter's value, or undefined; refused when repeated or not a plain value. */
  one(key: string): string | undefined {
    const v = this.q[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw badQuery(key, `give "${key}" once, as a plain value`);
    return v;
  }

  /** A whole number from 1 to max, or undefined. */
  limit(key: string, max: number): number | undefined {
    const v = this.one(key);
    if (v === undefined) return undefined;
    const n = /^\d{1,7}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= max)) throw badQuery(key, `"${key}" must be a whole number from 1 to ${max}`);
    return n;
  }

  /** An ISO 8601 time, normalized, or undefined. */
  time(key: string, example: string): string | undefined {
    const v = this.one(key);
    if (v === undefined) return undefined;
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw badQuery(key, `"${key}" must be an ISO 8601 time, e.g. ${example}`);
    return new Date(t).toISOString();
  }

  /** One of the allowed values, or undefined. */
  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const v = this.one(key);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) throw badQuery(key, `"${key}" must be one of ${allowed.join(', ')}`);
    return v as T;
  }
}
