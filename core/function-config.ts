// The function configuration a user uploads, validated once here. Unknown keys are refused so that a
// typo ("memoryMB") is an error rather than a silently ignored setting.

import { z } from 'zod';
import { StratusError } from './errors.js';
import { gitSettingsSchema } from './git-settings.js';

export const FUNCTION_NAME = /^[a-z][a-z0-9-]{0,62}$/;

export const LIMITS = {
  memoryMb: { min: 64, max: 8192, default: 256 },
  timeoutMs: { min: 100, max: 900_000, default: 30_000 },
  concurrency: { min: 1, max: 1000, default: 8 },
  maxInstances: { min: 1, max: 1000, default: 10 },
  idleTtlMs: { min: 1000, max: 86_400_000, default: 300_000 },
  cpus: { min: 0.05, max: 64 },
  asyncMaxAttempts: { min: 1, max: 100, default: 3 },
  asyncBackoffMs: { min: 0, max: 3_600_000, default: 1000 },
  notifyEmails: { max: 20 },
} as const;

/** What a function's instances can reach over the network (docs/security.md). */
export const NETWORK_POLICIES = ['egress', 'none'] as const;
export type NetworkPolicy = (typeof NETWORK_POLICIES)[number];

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const functionConfigSchema = z
  .strictObject({
    name: z.string().regex(FUNCTION_NAME, 'must start with a lowercase letter and hold only a-z, 0-9 and "-" (at most 63)').meta({ description: 'a-z, 0-9 and "-", from a letter, at most 63' }),
    runtime: z.enum(['node', 'python']).optional().meta({ description: 'required for uploaded code; not with image' }),
    /** "file.export" for node (default index.handler → export default), "module.function" for python. */
    handler: z.string().min(1).max(200).regex(/^[A-Za-z0-9_./-]+$/, 'may hold letters, digits, "_", ".", "/" and "-"').optional().meta({ description: 'file.export (node, default index.handler), module.function (python, default main.handler)' }),
    /** A user's own image instead of uploaded code; it must speak the runtime protocol. */
    image: z.string().min(1).max(500).optional().meta({ description: 'an image of your own that speaks the runtime protocol, instead of uploaded code' }),
    memoryMb: z.number().int().min(LIMITS.memoryMb.min).max(LIMITS.memoryMb.max).default(LIMITS.memoryMb.default).meta({ description: 'memory limit (cgroup) of each instance' }),
    timeoutMs: z.number().int().min(LIMITS.timeoutMs.min).max(LIMITS.timeoutMs.max).default(LIMITS.timeoutMs.default).meta({ description: 'per request; past it the caller gets 504 and a stuck instance is recycled' }),
    env: z
      .record(z.string().regex(envName, 'environment variable names are letters, digits and "_"'), z.string().max(32_768))
      .refine((e) => Object.keys(e).every((k) => !k.startsWith('STRATUS_')), 'names starting with STRATUS_ are reserved')
      .default({})
      .meta({ description: 'environment variables (names starting STRATUS_ are reserved)' }),
    /** Requests one instance serves at once. */
    concurrency: z.number().int().min(LIMITS.concurrency.min).max(LIMITS.concurrency.max).default(LIMITS.concurrency.default).meta({ description: 'requests one instance serves at once' }),
    minInstances: z.number().int().min(0).max(LIMITS.maxInstances.max).default(0).meta({ description: 'kept warm at all times; at most maxInstances' }),
    maxInstances: z.number().int().min(LIMITS.maxInstances.min).max(LIMITS.maxInstances.max).default(LIMITS.maxInstances.default).meta({ description: 'upper bound of instances' }),
    /** Idle time after which the function scales to zero (when minInstances is 0). */
    idleTtlMs: z.number().int().min(LIMITS.idleTtlMs.min).max(LIMITS.idleTtlMs.max).default(LIMITS.idleTtlMs.default).meta({ description: 'scale to zero after this long without requests (when minInstances is 0)' }),
    /** 'egress': outbound connections allowed (the default); 'none': no interface but loopback. */
    network: z.enum(NETWORK_POLICIES).default('egress').meta({ description: 'egress: outbound connections allowed; none: no interface but loopback' }),
    /** Hard cap in cores (0.5 = half a core), enforced by the backend; unset: only a fair share under contention. */
    cpus: z.number().min(LIMITS.cpus.min).max(LIMITS.cpus.max).optional().meta({ description: 'hard CPU cap in cores (0.5 = half a core); unset: a fair share under contention only' }),
    /** Async invocations: attempts in all, and the first retry's delay (doubled for each further one). Unset: asyncPolicy's defaults. */
    async: z
      .strictObject({
        maxAttempts: z.number().int().min(LIMITS.asyncMaxAttempts.min).max(LIMITS.asyncMaxAttempts.max).default(LIMITS.asyncMaxAttempts.default),
        backoffMs: z.number().int().min(LIMITS.asyncBackoffMs.min).max(LIMITS.asyncBackoffMs.max).default(LIMITS.asyncBackoffMs.default),
      })
      .optional()
      .meta({ description: 'async invocations: attempts in all, and the first retry\'s delay (doubled for each further one)' }),
    /** The build's check stage (builder/checks.ts): lint (ESLint, pyflakes) and the function's own tests (npm test, pytest). Unset: both on. */
    checks: z
      .strictObject({
        lint: z.boolean().default(true),
        test: z.boolean().default(true),
      })
      .optional()
      .meta({ description: 'the build\'s checks: lint (ESLint, pyflakes) and test (npm test, pytest); false skips one; a PATCH replaces it whole' }),
    /** Where this function's notifications go besides the platform's own (services/notify/): a signed webhook, email addresses. */
    notify: z
      .strictObject({
        webhook: z
          .strictObject({
            url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).max(2000),
            /** Every webhook is signed (HMAC-SHA256): a receiver could not tell an unsigned one from anybody's POST. */
            secret: z.string({ error: 'give a secret of 16 to 512 characters: every webhook is signed with it' }).min(16, 'use at least 16 characters').max(512),
          })
          .optional(),
        email: z.array(z.email('must be an email address')).min(1, 'give at least one address, or leave email out').max(LIMITS.notifyEmails.max).optional(),
      })
      .optional()
      .meta({ description: 'this function\'s own notification channels besides the platform\'s: a signed webhook, email addresses; a PATCH replaces it whole' }),
    /** Builds from git pushes (POST /v1/hooks/git/NAME): branch, sub-directory, the hook's secret, a pinned repository. */
    git: gitSettingsSchema.optional().meta({ description: 'builds from git pushes: branch, directory, the hooks\' secret, a pinned repository; not with image; a PATCH replaces it whole' }),
  })
  .refine((c) => c.minInstances <= c.maxInstances, { message: 'minInstances must not exceed maxInstances', path: ['minInstances'] })
  .refine((c) => c.image !== undefined || c.runtime !== undefined, { message: 'give a runtime ("node" or "python") for uploaded code', path: ['runtime'] })
  .refine((c) => c.git === undefined || c.image === undefined, { message: 'git pushes build code; a function running its own image has none to build', path: ['git'] });

export type FunctionConfig = z.output<typeof functionConfigSchema>;
export type FunctionConfigInput = z.input<typeof functionConfigSchema>;

/** The async retry policy of a function; records stored before the field existed get the defaults too. */
export function asyncPolicy(config: Pick<FunctionConfig, 'async'>): { maxAttempts: number; backoffMs: number } {
  return { maxAttempts: config.async?.maxAttempts ?? LIMITS.asyncMaxAttempts.default, backoffMs: config.async?.backoffMs ?? LIMITS.asyncBackoffMs.default };
}

/** Default handler per runtime when the upload names none. */
export const DEFAULT_HANDLER = { node: 'index.handler', python: 'main.handler' } as const;

/** Parse user input into a FunctionConfig, or throw INVALID_CONFIG naming the first broken field. */
export function parseFunctionConfig(input: unknown, fieldPrefix = 'config'): FunctionConfig {
  const result = functionConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [fieldPrefix, ...issue.path.map(String)].join('.');
  const all = result.error.issues.map((i) => `${[fieldPrefix, ...i.path.map(String)].join('.')}: ${i.message}`);
  throw new StratusError('INVALID_CONFIG', `${field}: ${issue.message}`, { field, errors: all });
}

/**
 * Apply a partial update (PATCH) to an existing configuration, validating the result as a whole. Fields
 * given replace the current ones, except `env`, which merges as a JSON merge patch (RFC 7386), what users
 * of Lambda-like APIs expect: `{"env": {"A": "1"}}` sets A and keeps the others, `{"env": {"A": null}}`
 * removes A, `{"env": null}` removes them all.
 */
export function mergeFunctionConfig(current: FunctionConfig, patch: unknown): FunctionConfig {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new StratusError('INVALID_CONFIG', 'the body must be a JSON object of configuration fields', { field: 'body' });
  }
  if ('name' in patch && (patch as { name: unknown }).name !== current.name) {
    throw new StratusError('INVALID_CONFIG', 'a function cannot be renamed; create a new one instead', { field: 'name' });
  }
  const merged: Record<string, unknown> = { ...current, ...patch };
  if ('env' in patch) merged.env = mergeEnv(current.env, (patch as { env: unknown }).env);
  return parseFunctionConfig(merged, 'body');
}

function mergeEnv(current: Record<string, string>, patch: unknown): unknown {
  if (patch === null) return {};
  // Anything but an object is left to the schema, which names the field in its error.
  if (typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const env: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete env[key];
    else env[key] = value;
  }
  return env;
}
