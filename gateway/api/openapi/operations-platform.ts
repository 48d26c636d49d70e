// The registry's operations around functions: triggers and invoke keys, usage, notifications, object
// storage keys, the operator's actions, webhooks from other systems and the gateway's own endpoints.
// Schemas are the routes' own (see operation.ts).

import { z } from 'zod';
import { ERROR_DOCS_PATH } from '../../../core/errors.js';
import { gitHookQuerySchema } from '../routes/git-hooks.js';
import { minioEventSchema } from '../routes/hooks.js';
import { deliveryQuerySchema } from '../routes/notifications.js';
import { cronPreviewQuerySchema, invokeKeyBodySchema, triggerQuerySchema } from '../routes/triggers.js';
import { usageQuerySchema } from '../routes/usage.js';
import { keyRequestSchema } from '../../../services/storage/scope.js';
import type { OperationGroup } from './operation.js';
import { trigger } from './schemas.js';

const json = 'application/json';
const id = (what: string) => z.string().meta({ description: what });

export const platformOperations: OperationGroup = [
  {
    method: 'post', path: '/v1/functions/:name/triggers', tag: 'Triggers', access: 'admin',
    summary: 'Add a trigger',
    description: 'cron (a schedule in a time zone), storage (object events of a bucket) or http (the function URL\'s auth, methods and CORS; at most one, its id is "http").',
    body: { [json]: trigger },
    answers: { 201: { description: 'the trigger with its id and links', type: json } },
    errors: ['FUNCTION_NOT_FOUND', 'INVALID_TRIGGER', 'UNSUPPORTED_MEDIA_TYPE', 'CONFLICT'],
  },
  {
    method: 'put', path: '/v1/functions/:name/triggers/http', tag: 'Triggers', access: 'admin',
    summary: 'Set the function URL\'s http trigger',
    description: 'Adds the http trigger (auth, methods, CORS) or replaces the one there is, in one step: the URL is never without its settings in between, and the other triggers stay.',
    body: { [json]: trigger },
    answers: { 200: { description: 'the http trigger with its links', type: json } },
    errors: ['FUNCTION_NOT_FOUND', 'INVALID_TRIGGER', 'INVALID_REQUEST', 'UNSUPPORTED_MEDIA_TYPE', 'CONFLICT'],
  },
  {
    method: 'get', path: '/v1/functions/:name/triggers', tag: 'Triggers', access: 'admin',
    summary: 'List a function\'s triggers',
    answers: { 200: { description: '{ triggers: [...] }', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/functions/:name/triggers/:id', tag: 'Triggers', access: 'admin', params: { id: id('the trigger\'s id ("http" for the http trigger)') },
    summary: 'Show a trigger with its last fires (and a cron\'s next fire times)',
    answers: { 200: { description: 'the trigger, its fires and links', type: json } },
    errors: ['FUNCTION_NOT_FOUND', 'TRIGGER_NOT_FOUND'],
  },
  {
    method: 'delete', path: '/v1/functions/:name/triggers/:id', tag: 'Triggers', access: 'admin', params: { id: id('the trigger\'s id') },
    summary: 'Remove a trigger',
    answers: { 204: { description: 'removed' } },
    errors: ['FUNCTION_NOT_FOUND', 'TRIGGER_NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/triggers', tag: 'Triggers', access: 'admin',
    summary: 'List every function\'s triggers',
    query: triggerQuerySchema,
    answers: { 200: { description: '{ triggers: [...] }', type: json } },
    errors: [],
  },
  {
    method: 'get', path: '/v1/triggers/cron-preview', tag: 'Triggers', access: 'admin',
    summary: 'Preview a cron schedule\'s next fire times',
    description: 'Validated as a cron trigger is and computed by the parser the scheduler runs; nothing is saved.',
    query: cronPreviewQuerySchema,
    answers: { 200: { description: '{ schedule, timezone, next: [ISO times] }', type: json } },
    errors: ['INVALID_TRIGGER'],
  },
  {
    method: 'post', path: '/v1/functions/:name/keys', tag: 'Invoke keys', access: 'admin',
    summary: 'Issue an invoke key for the function URL',
    description: 'For an http trigger with auth "key": callers send the key in x-stratus-key. The key is shown once.',
    body: { [json]: invokeKeyBodySchema },
    bodyRequired: false,
    answers: { 201: { description: '{ id, function, prefix, name, createdAt, key, header, note }', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/functions/:name/keys', tag: 'Invoke keys', access: 'admin',
    summary: 'List a function\'s invoke keys (never the key)',
    answers: { 200: { description: '{ keys: [{ id, function, prefix, name, createdAt }] }', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'delete', path: '/v1/functions/:name/keys/:id', tag: 'Invoke keys', access: 'admin', params: { id: id('the key\'s id') },
    summary: 'Revoke an invoke key',
    answers: { 204: { description: 'revoked' } },
    errors: ['FUNCTION_NOT_FOUND', 'NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/usage', tag: 'Usage', access: 'admin',
    summary: 'Metered usage per function in hour or UTC-day buckets',
    description: 'requests, failed, exact mbMs, gbSeconds (a decimal string) and, with a price table, cost; a deleted function\'s usage stays.',
    query: usageQuerySchema,
    answers: { 200: { description: 'the buckets, totals and the range covered', type: json } },
    errors: [],
  },
  {
    method: 'get', path: '/v1/notifications', tag: 'Notifications', access: 'admin',
    summary: 'List notification deliveries with their attempts, newest first',
    description: 'Present when Stratus runs with notifications (the platform process); kept for 7 days.',
    query: deliveryQuerySchema,
    answers: { 200: { description: '{ deliveries: [...] }', type: json } },
    errors: [],
  },
  {
    method: 'get', path: '/v1/notifications/:id', tag: 'Notifications', access: 'admin', params: { id: id('the delivery\'s id') },
    summary: 'Show one notification delivery',
    answers: { 200: { description: 'the delivery with each attempt', type: json } },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'post', path: '/v1/storage/keys', tag: 'Storage', access: 'admin',
    summary: 'Issue an S3 access key',
    description: 'Scoped to buckets and rights when a scope is given, else every bucket and right. The secret is shown once. Present when Stratus runs its S3 storage.',
    body: { [json]: keyRequestSchema },
    bodyRequired: false,
    answers: { 201: { description: '{ accessKeyId, secretAccessKey, created, scope, endpoint, note }', type: json } },
    errors: [],
  },
  {
    method: 'get', path: '/v1/storage/keys', tag: 'Storage', access: 'admin',
    summary: 'List S3 access keys (ids and scopes)',
    answers: { 200: { description: '{ keys: [{ accessKeyId, created, scope }], endpoint }', type: json } },
    errors: [],
  },
  {
    method: 'delete', path: '/v1/storage/keys/:id', tag: 'Storage', access: 'admin', params: { id: id('the access key id') },
    summary: 'Revoke an S3 access key at once',
    answers: { 204: { description: 'revoked' } },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'post', path: '/v1/admin/gc', tag: 'Admin', access: 'admin',
    summary: 'Delete every function\'s old images now',
    description: 'Those beyond STRATUS_IMAGES_KEPT that no alias uses; the registry\'s garbage collection (npm run gc) then frees their disk.',
    answers: { 200: { description: '{ deleted, functions: [{ function, kept: [{ tag, reason }], deleted, skipped }], next }', type: json } },
    errors: [],
  },
  {
    method: 'post', path: '/v1/hooks/storage/minio', tag: 'Webhooks', access: 'minio',
    summary: 'MinIO\'s bucket notifications, for storage triggers with source "minio"',
    body: { [json]: minioEventSchema },
    answers: { 200: { description: '{ records, matched, queued, duplicates, … }', type: json } },
    errors: ['INVALID_REQUEST', 'HOOK_NOT_CONFIGURED', 'INTERNAL'],
  },
  {
    method: 'head', path: '/v1/hooks/storage/minio', tag: 'Webhooks', access: 'minio',
    summary: 'The probe older MinIO releases send before their first event',
    answers: { 200: { description: 'the token is right' } },
    errors: ['HOOK_NOT_CONFIGURED'],
  },
  {
    method: 'post', path: '/v1/hooks/git/:name', tag: 'Webhooks', access: 'git',
    summary: 'A forge\'s push webhook (GitHub, GitLab, Gitea) builds the pushed commit',
    description: 'Checked against the function\'s git.secret, not the admin key. A push of the configured branch touching its directory builds; others are answered 200 with `skipped`; a delivery seen before with `duplicate`.',
    query: gitHookQuerySchema,
    body: { [json]: z.record(z.string(), z.unknown()).meta({ description: 'the forge\'s push event (GitHub may send it form-encoded in `payload`)' }) },
    answers: { 200: { description: 'a ping, or a push that builds nothing: { function, skipped } (duplicate: true for a redelivery)', type: json }, 202: { description: 'building: { function, commit, ref, version, buildId, status, links }, or still fetching: { status: "fetching" }', type: json } },
    errors: ['FUNCTION_NOT_FOUND', 'GIT_NOT_CONFIGURED', 'INVALID_REQUEST', 'GIT_REPOSITORY_REFUSED', 'CONFLICT', 'GIT_FETCH_FAILED', 'BAD_ARCHIVE'],
  },
  {
    method: 'get', path: '/v1/openapi.json', tag: 'System', access: 'public',
    summary: 'This document',
    answers: { 200: { description: 'the OpenAPI 3.1 document of the API', type: json } },
    errors: [],
  },
  {
    method: 'get', path: '/healthz', tag: 'System', access: 'public',
    summary: 'The gateway\'s own health',
    description: 'Liveness: 200 while the process answers, also while it drains on a stop (a supervisor must not kill a replica finishing its calls). Whether to send it calls is GET /readyz.',
    answers: { 200: { description: '{ status: "ok", store, backend }', type: json } },
    errors: [],
  },
  {
    method: 'get', path: '/readyz', tag: 'System', access: 'public',
    summary: 'Whether this replica takes new calls (for a load balancer\'s health check or a readinessProbe)',
    description: 'Readiness: 503 from the moment a stop (SIGTERM) begins, while the replica still serves calls for STRATUS_DRAIN_NOTICE_MS, so a balancer checking it takes it out before it closes its listener; 200 otherwise. It does not depend on Redis or Docker (every replica shares them: a failing dependency would take all replicas out at once).',
    answers: { 200: { description: '{ status: "ready" }', type: json } },
    errors: ['SHUTTING_DOWN'],
  },
  {
    method: 'get', path: ERROR_DOCS_PATH, tag: 'System', access: 'public',
    summary: 'The error catalogue a problem\'s `type` points at (#code)',
    answers: { 200: { description: 'docs/errors.md', type: 'text/markdown' } },
    errors: [],
  },
  {
    method: 'get', path: '/metrics', tag: 'System', access: 'admin',
    summary: 'Prometheus metrics of this process',
    answers: { 200: { description: 'instances by state, cold starts, queue depth, latency histograms, billed GB-seconds per function', type: 'text/plain' } },
    errors: [],
  },
];
