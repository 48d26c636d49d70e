// What a dashboard form posted, read the same way by every console action: urlencoded fields arrive as a
// string, or as a list when a field repeats (checkboxes); anything else (a JSON body's objects) is ignored,
// so a value is always text the form could have sent.

import type { Request } from 'express';

export type FormValues = Record<string, string | string[]>;

/** The posted fields as text or lists of text; the CSRF token is left out (it is never echoed back into a page). */
export function formValues(req: Request): FormValues {
  const out: FormValues = {};
  for (const [k, v] of Object.entries((req.body ?? {}) as Record<string, unknown>)) {
    if (k === '_csrf') continue;
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else if (Array.isArray(v)) out[k] = v.filter((x): x is string => typeof x === 'string');
  }
  return out;
}

/** One field as trimmed text ('' when absent; the first of a repeated one). */
export const one = (v: FormValues, k: string): string => {
  const x = v[k];
  return (Array.isArray(x) ? (x[0] ?? '') : (x ?? '')).trim();
};

/** A repeated field (checkboxes) as a list; a single value is a list of one. */
export const many = (v: FormValues, k: string): string[] => {
  const x = v[k];
  return (x === undefined ? [] : Array.isArray(x) ? x : [x]).map((s) => s.trim()).filter((s) => s !== '');
};

/** A text area of one item per line or comma: "a, b\nc" → [a, b, c]. */
export const items = (v: FormValues, k: string): string[] => one(v, k).split(/[\n,]/).map((s) => s.trim()).filter((s) => s !== '');
