// One entry of the API's registry: an operation as the app mounts it (method and express path), what it
// takes — the very zod schemas its route validates with, imported, never copied — and what it answers.
// document.ts turns the registry into the OpenAPI document; test/unit/openapi.test.ts holds it
// equal to the routes the app mounts, both ways.

import type { z } from 'zod';
import type { ErrorCode } from '../../../core/errors.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete' | 'head';

/**
 * Who may call: the admin key (Bearer, every /v1 route but the webhooks), nobody in particular, MinIO's
 * webhook token, or a forge proving the function's git.secret.
 */
export type Access = 'admin' | 'public' | 'minio' | 'git';

export interface Answer {
  description: string;
  /** The media type of the body; none for an answer without one (204, HEAD). */
  type?: string;
}

export interface Operation {
  method: Method;
  /** As express mounts it: /v1/functions/:name. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  access: Access;
  /** Path parameters by name; a name without an entry here takes PATH_PARAMS' schema. */
  params?: Record<string, z.ZodType>;
  query?: z.ZodObject;
  headers?: z.ZodObject;
  /** Request bodies by media type. */
  body?: Record<string, z.ZodType>;
  /** How parts of a multipart body are encoded, by part name (OpenAPI's encoding object). */
  bodyEncoding?: Record<string, { contentType: string }>;
  /** False when the body may be left out (default: required when there is one). */
  bodyRequired?: boolean;
  /** Successful answers by status. */
  answers: Record<number, Answer>;
  /** The catalogue's codes this operation answers besides those every operation of its kind may (document.ts). */
  errors: ErrorCode[];
}

/** Operations of one part of the API. */
export type OperationGroup = readonly Operation[];
