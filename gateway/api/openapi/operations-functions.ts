// The registry's operations on functions and what belongs to one: deploys, builds, logs, invocations,
// versions, aliases and rollback. Schemas are the routes' own (see operation.ts).

import { z } from 'zod';
import { aliasBodySchema } from '../../../core/aliases.js';
import { buildLogQuerySchema } from '../routes/builds.js';
import { idempotencyKeySchema } from '../../http/idempotency-header.js';
import { invocationQuerySchema } from '../routes/invocations.js';
import { logQuerySchema } from '../routes/logs.js';
import { rollbackBodySchema } from '../routes/releases.js';
import type { OperationGroup } from './operation.js';
import { deployConfigSchema, functionPatchSchema, uploadSchema } from './schemas.js';

const json = 'application/json';
const id = (what: string) => z.string().meta({ description: what });
const versionNumber = z.string().regex(/^[1-9]\d{0,8}$/).meta({ description: 'the version number (1, 2, …)' });

export const functionOperations: OperationGroup = [
  {
    method: 'post', path: '/v1/functions', tag: 'Functions', access: 'admin',
    summary: 'Create or update a function',
    description: 'Multipart: uploaded code (without `image`) is built into a new version (202, follow the build). JSON: the config with `image`, a function running an image of your own (201). A bad archive is refused before anything is queued.',
    body: { 'multipart/form-data': uploadSchema, [json]: deployConfigSchema },
    bodyEncoding: { config: { contentType: json } },
    answers: { 201: { description: 'the image was recorded as a new version: { name, version, links }', type: json }, 202: { description: 'the code is being built: { name, version, buildId, links: { build, logs, url, apiUrl } }', type: json } },
    errors: ['INVALID_CONFIG', 'INVALID_TRIGGER', 'UNSUPPORTED_MEDIA_TYPE', 'BAD_ARCHIVE', 'CONFLICT'],
  },
  {
    method: 'get', path: '/v1/functions', tag: 'Functions', access: 'admin',
    summary: 'List functions',
    answers: { 200: { description: '{ functions: [{ name, runtime, status, currentVersion, latestVersion, url, apiUrl, updatedAt }] }', type: json } },
    errors: [],
  },
  {
    method: 'get', path: '/v1/functions/:name', tag: 'Functions', access: 'admin',
    summary: 'Show a function',
    description: '`status` is building, ready, failed (no version ever built) or failing: its instances keep failing to start, and `failing` says why (lastError, lastOutput), how often in a row, when the next start may be tried and where the logs are.',
    answers: { 200: { description: 'the function with its versions, status, failing and URLs', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'patch', path: '/v1/functions/:name', tag: 'Functions', access: 'admin',
    summary: 'Change a function\'s settings',
    description: 'A new version with the same code. A field given replaces the current one, except env, which merges: {"env":{"A":"1"}} sets A and keeps the others, {"env":{"A":null}} removes A, {"env":null} removes all.',
    body: { [json]: functionPatchSchema },
    answers: { 200: { description: 'the new version: { name, version, status, url, apiUrl }', type: json } },
    errors: ['FUNCTION_NOT_FOUND', 'INVALID_CONFIG', 'UNSUPPORTED_MEDIA_TYPE', 'CONFLICT'],
  },
  {
    method: 'delete', path: '/v1/functions/:name', tag: 'Functions', access: 'admin',
    summary: 'Delete a function',
    description: 'Its instances, images and everything it has in the store go, except its version counter (a function created again under the name goes on from the old number) and its metered usage.',
    answers: { 204: { description: 'deleted' } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/functions/:name/instances', tag: 'Functions', access: 'admin',
    summary: 'List a function\'s instances',
    answers: { 200: { description: '{ instances: [{ id, state, inFlight, startedAt, lastUsedAt, … }] }', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/functions/:name/versions/:version/source', tag: 'Functions', access: 'admin', params: { version: versionNumber },
    summary: 'Download a version\'s source as it was uploaded',
    description: 'The .zip, .tar.gz or single source file the version was built from (a config-only version gives its build\'s), as an attachment named as uploaded. Kept until the function is deleted.',
    answers: { 200: { description: 'the uploaded file', type: 'application/octet-stream' } },
    errors: ['FUNCTION_NOT_FOUND', 'SOURCE_NOT_KEPT', 'INVALID_REQUEST'],
  },
  {
    method: 'get', path: '/v1/functions/:name/versions/:version/source/files', tag: 'Functions', access: 'admin', params: { version: versionNumber },
    summary: 'A version\'s source files as text',
    description: 'The upload unpacked as the builder unpacks it, each file with its text: at most 200 files, 256 KiB each and 2 MiB in all; a file over a bound, not UTF-8 text (binary) or a link is listed with `omitted` saying why and no text.',
    answers: { 200: { description: '{ function, version, sourceName, singleFile, files: [{ path, bytes, text?, omitted? }], truncated }', type: json } },
    errors: ['FUNCTION_NOT_FOUND', 'SOURCE_NOT_KEPT', 'INVALID_REQUEST', 'BAD_ARCHIVE'],
  },
  {
    method: 'get', path: '/v1/functions/:name/logs', tag: 'Logs', access: 'admin',
    summary: 'Read what a function\'s instances wrote',
    description: 'Newest last. Lines outside a call have requestId null; the newest 5000 per function are kept, written every ~250 ms.',
    query: logQuerySchema,
    answers: { 200: { description: '{ logs: [{ time, function, version, instance, requestId, level, stream, message }] }', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/builds/:id', tag: 'Builds', access: 'admin', params: { id: id('the build id an upload answered') },
    summary: 'Show a build',
    answers: { 200: { description: 'status (queued, building, checking, pushing, succeeded, failed), timings per stage, image, error, failedStage', type: json } },
    errors: ['BUILD_NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/builds/:id/report', tag: 'Builds', access: 'admin', params: { id: id('the build id') },
    summary: 'Read a build\'s check report',
    answers: { 200: { description: '{ buildId, status, failedStage, checks: [{ tool, status, reason, durationMs, exitCode, problems, output }] } ([] before the checks ran)', type: json } },
    errors: ['BUILD_NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/builds/:id/logs', tag: 'Builds', access: 'admin', params: { id: id('the build id') },
    summary: 'Read or follow a build\'s log',
    query: buildLogQuerySchema,
    answers: { 200: { description: 'the log as text; with follow, server-sent events: `log` (data: lines), then `end` (data: { status, error })', type: 'text/plain' } },
    errors: ['BUILD_NOT_FOUND'],
  },
  {
    method: 'post', path: '/v1/functions/:name/invocations', tag: 'Invocations', access: 'admin',
    summary: 'Invoke a function asynchronously',
    description: 'The body (any JSON, or none) is the event\'s data; the invocation is queued and retried per the function\'s async settings.',
    headers: z.object({ 'idempotency-key': idempotencyKeySchema.optional() }),
    body: { [json]: z.unknown().meta({ description: 'the event\'s data: any JSON' }) },
    bodyRequired: false,
    answers: { 202: { description: '{ id, status, duplicate, links: { self, logs, function } }', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/functions/:name/invocations', tag: 'Invocations', access: 'admin',
    summary: 'List a function\'s invocation records',
    query: invocationQuerySchema,
    answers: { 200: { description: '{ invocations: [records, newest first] }', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/invocations/:id', tag: 'Invocations', access: 'admin', params: { id: id('the invocation id (an async submission\'s id or a call\'s x-stratus-request-id)') },
    summary: 'Show one invocation',
    answers: { 200: { description: 'async status, attempts, result or error, timings, its trigger and its record', type: json } },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/invocations/:id/logs', tag: 'Invocations', access: 'admin', params: { id: id('the invocation id') },
    summary: 'Read one invocation\'s log lines',
    answers: { 200: { description: '{ logs: [...] }', type: json } },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/functions/:name/dead-letters', tag: 'Invocations', access: 'admin',
    summary: 'List async invocations that failed every attempt',
    answers: { 200: { description: '{ deadLetters: [...] }', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'post', path: '/v1/functions/:name/dead-letters/replay', tag: 'Invocations', access: 'admin',
    summary: 'Queue every dead letter of a function again',
    answers: { 202: { description: '{ replayed: [ids] }', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'post', path: '/v1/functions/:name/dead-letters/:id/replay', tag: 'Invocations', access: 'admin', params: { id: id('the dead letter\'s invocation id') },
    summary: 'Queue one dead letter again',
    answers: { 202: { description: '{ replayed: [id], links }', type: json } },
    errors: ['FUNCTION_NOT_FOUND', 'NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/functions/:name/versions', tag: 'Releases', access: 'admin',
    summary: 'List a function\'s versions',
    answers: { 200: { description: '{ versions: [{ version, code, settings, image, origin, aliases }] }', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'get', path: '/v1/functions/:name/aliases', tag: 'Releases', access: 'admin',
    summary: 'List a function\'s aliases',
    answers: { 200: { description: '{ aliases: { NAME: [{ version, weight }] } }', type: json } },
    errors: ['FUNCTION_NOT_FOUND'],
  },
  {
    method: 'put', path: '/v1/functions/:name/aliases/:alias', tag: 'Releases', access: 'admin',
    summary: 'Point an alias at a version, or at two weighted versions (a canary)',
    description: 'Answered after the rollout: the new version\'s instances are warm before the alias moves.',
    body: { [json]: aliasBodySchema },
    answers: { 200: { description: '{ name, alias, versions, version, previous, rollout }', type: json } },
    errors: ['FUNCTION_NOT_FOUND', 'UNSUPPORTED_MEDIA_TYPE', 'CONFLICT', 'ROLLOUT_ABANDONED'],
  },
  {
    method: 'delete', path: '/v1/functions/:name/aliases/:alias', tag: 'Releases', access: 'admin',
    summary: 'Remove an alias',
    answers: { 204: { description: 'removed' } },
    errors: ['FUNCTION_NOT_FOUND', 'NOT_FOUND', 'CONFLICT'],
  },
  {
    method: 'post', path: '/v1/functions/:name/rollback', tag: 'Releases', access: 'admin',
    summary: 'Move latest back to the previous good version, or to a given one',
    body: { [json]: rollbackBodySchema },
    bodyRequired: false,
    answers: { 200: { description: 'the version now serving: { name, alias, versions, version, previous, rollout }', type: json } },
    errors: ['FUNCTION_NOT_FOUND', 'CONFLICT', 'ROLLOUT_ABANDONED'],
  },
];
