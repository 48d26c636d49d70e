// The console's trigger forms turned into the very bodies POST /v1/functions/:name/triggers takes: nothing is
// validated here (core/triggers.ts's parseTrigger does it, through the trigger service, with the API's own
// messages); a form only decides what an empty field means — left out, so the API's default applies.

import { StratusError } from '../../../core/errors.js';
import { items, many, one, type FormValues } from './posted-fields.js';

export function cronBody(v: FormValues): Record<string, unknown> {
  const raw = one(v, 'payload');
  let payload: unknown = null;
  if (raw !== '') {
    try {
      payload = JSON.parse(raw);
    } catch {
      throw new StratusError('INVALID_TRIGGER', 'payload: not valid JSON (leave it empty to send none)', { field: 'body.payload' });
    }
  }
  return {
    type: 'cron',
    schedule: one(v, 'schedule'),
    ...(one(v, 'timezone') ? { timezone: one(v, 'timezone') } : {}),
    payload,
    ...(one(v, 'overlap') ? { overlap: one(v, 'overlap') } : {}),
  };
}

export function storageBody(v: FormValues): Record<string, unknown> {
  const [prefix, suffix] = [one(v, 'prefix'), one(v, 'suffix')];
  const events = many(v, 'events');
  return {
    type: 'storage',
    ...(one(v, 'source') ? { source: one(v, 'source') } : {}),
    bucket: one(v, 'bucket'),
    ...(events.length ? { events } : {}),
    ...(prefix || suffix ? { filter: { ...(prefix ? { prefix } : {}), ...(suffix ? { suffix } : {}) } } : {}),
  };
}

export function httpBody(v: FormValues): Record<string, unknown> {
  const methods = many(v, 'methods');
  const origins = items(v, 'allowOrigins');
  const headers = items(v, 'allowHeaders');
  const maxAge = one(v, 'maxAgeSeconds');
  if (maxAge !== '' && !/^\d{1,6}$/.test(maxAge)) throw new StratusError('INVALID_TRIGGER', 'cors.maxAgeSeconds: a whole number of seconds (0–86400)', { field: 'body.cors.maxAgeSeconds' });
  const cors = origins.length
    ? { allowOrigins: origins, ...(headers.length ? { allowHeaders: headers } : {}), ...(maxAge ? { maxAgeSeconds: Number(maxAge) } : {}), allowCredentials: one(v, 'allowCredentials') === 'on' }
    : undefined;
  if (!cors && (headers.length || one(v, 'allowCredentials') === 'on')) {
    throw new StratusError('INVALID_TRIGGER', 'cors.allowOrigins: give the origins CORS allows (or "*") before its headers or credentials', { field: 'body.cors.allowOrigins' });
  }
  return { type: 'http', auth: one(v, 'auth') || 'public', ...(methods.length ? { methods } : {}), ...(cors ? { cors } : {}) };
}
