// The OpenAPI 3.1 document of the API, built from the registry (operations-*.ts) by zod-openapi, which
// renders each zod schema with zod 4's own toJSONSchema — request bodies and parameters as the routes
// validate them. Errors are RFC 9457 problems whose `code` comes from core/errors.ts's catalogue.
// The document is the same for every deployment (routes that need a service say so in words), so serving it
// tells nobody how this one is set up.

import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import { ERROR_CATALOGUE, type ErrorCode } from '../../../core/errors.js';
import type { Access, Operation } from './operation.js';
import { functionOperations } from './operations-functions.js';
import { platformOperations } from './operations-platform.js';
import { aliasName, functionName } from './schemas.js';

/** Every operation of the API, in the order the reference lists them. */
export const OPERATIONS: readonly Operation[] = [...functionOperations, ...platformOperations];

/** Path parameters that mean the same wherever they appear. */
const PATH_PARAMS: Record<string, z.ZodType> = { name: functionName, alias: aliasName };

const PROBLEM_TYPE = 'application/problem+json';
const CODES = Object.keys(ERROR_CATALOGUE) as [ErrorCode, ...ErrorCode[]];

const problemSchema = z
  .looseObject({
    type: z.string().meta({ description: 'a URI reference to the code\'s entry in the error catalogue: /docs/errors.md#code' }),
    title: z.string().meta({ description: 'the code\'s title' }),
    status: z.number().int(),
    code: z.enum(CODES).meta({ description: 'stable; listed with what to do in docs/errors.md' }),
    detail: z.string().meta({ description: 'what went wrong, for the person who has to act' }),
    instance: z.string().optional().meta({ description: 'the request\'s path' }),
    field: z.string().optional().meta({ description: 'the request field or limit that was broken, e.g. body.memoryMb or query.limit' }),
    errors: z.array(z.string()).optional().meta({ description: 'every broken field of a refused configuration or trigger' }),
  })
  .meta({ id: 'Problem', description: 'An RFC 9457 problem: every error the API answers.' });

/** Codes any operation of a kind may answer, besides its own. */
function commonErrors(op: Operation): ErrorCode[] {
  const byAccess: Record<Access, ErrorCode[]> = {
    admin: ['UNAUTHORIZED', 'TOO_MANY_REQUESTS'],
    public: [],
    minio: ['UNAUTHORIZED'],
    git: ['UNAUTHORIZED'],
  };
  const input: ErrorCode[] = op.body ? ['INVALID_REQUEST', 'PAYLOAD_TOO_LARGE'] : op.query || op.headers ? ['INVALID_REQUEST'] : [];
  return [...byAccess[op.access], ...input, 'INTERNAL'];
}

const SECURITY: Record<Access, Record<string, string[]>[]> = {
  admin: [{ adminKey: [] }],
  public: [],
  minio: [{ minioToken: [] }],
  git: [{ githubSignature: [] }, { gitlabToken: [] }, { giteaSignature: [] }],
};

/** /v1/functions/:name → /v1/functions/{name}. */
export const openApiPath = (expressPath: string) => expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** get /v1/functions/:name/logs → getFunctionsByNameLogs: stable, unique, readable by client generators. */
export function operationId(op: Pick<Operation, 'method' | 'path'>): string {
  const words = op.path.split('/').filter((s) => s !== '' && s !== 'v1').map((s) => (s.startsWith(':') ? `by-${s.slice(1)}` : s));
  const camel = words.join('-').replace(/[^A-Za-z0-9]+(.)/g, (_m, c: string) => c.toUpperCase());
  return op.method + camel.charAt(0).toUpperCase() + camel.slice(1);
}

function responses(op: Operation): ZodOpenApiResponsesObject {
  const out: ZodOpenApiResponsesObject = {};
  for (const [status, a] of Object.entries(op.answers)) {
    out[status as `2${string}`] = { description: a.description, ...(a.type ? { content: { [a.type]: {} } } : {}) };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set([...op.errors, ...commonErrors(op)])) {
    const status = ERROR_CATALOGUE[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    // The problem, its code narrowed to those this operation answers with this status.
    const schema = z.intersection(problemSchema, z.looseObject({ code: z.enum(codes as [ErrorCode, ...ErrorCode[]]) }));
    out[String(status) as `4${string}`] = {
      description: codes.map((c) => `${c}: ${ERROR_CATALOGUE[c].title}`).join('; '),
      content: { [PROBLEM_TYPE]: { schema } },
    };
  }
  return out;
}

function operation(op: Operation): ZodOpenApiOperationObject {
  const names = [...op.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
  const path = Object.fromEntries(names.map((n) => {
    const schema = op.params?.[n] ?? PATH_PARAMS[n];
    if (!schema) throw new Error(`${op.method} ${op.path}: no schema for the path parameter ${n}`);
    return [n, schema];
  }));
  return {
    operationId: operationId(op),
    tags: [op.tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    security: SECURITY[op.access],
    requestParams: {
      ...(names.length > 0 ? { path: z.object(path) } : {}),
      ...(op.query ? { query: op.query } : {}),
      ...(op.headers ? { header: op.headers } : {}),
    },
    ...(op.body ? {
      requestBody: {
        required: op.bodyRequired ?? true,
        content: Object.fromEntries(Object.entries(op.body).map(([type, schema]) => [type, { schema, ...(type.startsWith('multipart/') && op.bodyEncoding ? { encoding: op.bodyEncoding } : {}) }])),
      },
    } : {}),
    responses: responses(op),
  };
}

export const API_TITLE = 'Stratus API';

function build(operations: readonly Operation[]): Record<string, unknown> {
  const paths: ZodOpenApiPathsObject = {};
  for (const op of operations) {
    const item = (paths[openApiPath(op.path)] ??= {});
    if (item[op.method]) throw new Error(`${op.method} ${op.path} is declared twice`);
    item[op.method] = operation(op);
  }
  const tags = [...new Set(operations.map((o) => o.tag))].map((name) => ({ name }));
  return createDocument({
    openapi: '3.1.0',
    info: { title: API_TITLE, version: 'v1', description: 'The control plane of Stratus: functions, builds, invocations, releases, triggers, usage, notifications and storage keys.' },
    // Relative: the document is right wherever it is served from.
    servers: [{ url: '/' }],
    tags,
    paths,
    components: {
      schemas: { Problem: problemSchema },
      securitySchemes: {
        adminKey: { type: 'http', scheme: 'bearer', description: 'The admin key (STRATUS_API_KEY): Authorization: Bearer <key>. Wrong keys are throttled per client (429).' },
        minioToken: { type: 'http', scheme: 'bearer', description: 'MinIO\'s notify_webhook auth_token, equal to STRATUS_MINIO_WEBHOOK_TOKEN; not the admin key.' },
        githubSignature: { type: 'apiKey', in: 'header', name: 'X-Hub-Signature-256', description: 'GitHub: sha256=<hex HMAC-SHA256 of the body with the function\'s git.secret>.' },
        gitlabToken: { type: 'apiKey', in: 'header', name: 'X-Gitlab-Token', description: 'GitLab: the function\'s git.secret itself.' },
        giteaSignature: { type: 'apiKey', in: 'header', name: 'X-Gitea-Signature', description: 'Gitea: <hex HMAC-SHA256 of the body with the function\'s git.secret>.' },
      },
    },
  }) as unknown as Record<string, unknown>;
}

let built: Record<string, unknown> | undefined;

/** The document (built once: it depends on nothing but the code). */
export function openApiDocument(): Record<string, unknown> {
  return (built ??= build(OPERATIONS));
}
