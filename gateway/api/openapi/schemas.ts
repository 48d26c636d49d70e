// Request schemas the OpenAPI document needs that are compositions of the ones the API validates with:
// the routes check the same parts one after the other, the document shows them as one body. Nothing here
// adds a rule; each piece is imported from where it is enforced.

import { z } from 'zod';
import { ALIAS_NAME } from '../../../core/aliases.js';
import { functionConfigSchema } from '../../../core/function-config.js';
import { MAX_TRIGGERS_PER_FUNCTION, triggerSchema } from '../../../core/triggers.js';

/** A trigger (parseTrigger's schemas), named: the deploy config and POST …/triggers both take one. */
export const trigger = triggerSchema.meta({ id: 'Trigger', description: 'One of three types, told apart by `type`; unknown keys are refused (INVALID_TRIGGER).' });

/** A function name in a path: any other answers FUNCTION_NOT_FOUND. */
export const functionName = functionConfigSchema.shape.name.meta({ description: 'the function\'s name' });

/** An alias name in a path (checkAliasName's rule). */
export const aliasName = z.string().regex(ALIAS_NAME).meta({ description: 'an alias: a-z, 0-9 and "-", from a letter, not shaped like a version ("v3")' });

/**
 * The deploy config: the function's settings, and optionally `triggers`, which replaces the function's
 * triggers once the version is recorded (routes/functions.ts takes it out and parseTriggerList checks it first).
 */
export const deployConfigSchema = functionConfigSchema
  .extend({ triggers: z.array(trigger).max(MAX_TRIGGERS_PER_FUNCTION).optional().meta({ description: 'replaces every trigger of the function (at most one http trigger)' }) })
  .meta({ id: 'DeployConfig', description: 'A function\'s configuration; unknown keys are refused (INVALID_CONFIG).' });

const env = functionConfigSchema.shape.env.unwrap();

/**
 * PATCH's body (mergeFunctionConfig): any of the config's fields, each replacing the current one, but env,
 * merged as a JSON merge patch (null removes a variable, env: null all). The merged config is validated
 * whole by functionConfigSchema; `name`, if given, must be the function's own.
 */
export const functionPatchSchema = z
  .strictObject({
    ...functionConfigSchema.shape,
    env: z.record(env.keyType, env.valueType.nullable()).nullable().meta({ description: 'merged: a name set to a string sets it, to null removes it; env: null removes every variable' }),
  })
  .partial()
  .meta({ id: 'FunctionPatch' });

/** The multipart upload (gateway/api/upload.ts): the config as JSON in one part, the code in another. */
export const uploadSchema = z
  .object({
    config: deployConfigSchema,
    code: z.string().meta({ description: 'a .zip, a .tar.gz or a single source file', override: { type: 'string', contentMediaType: 'application/octet-stream' } }),
  })
  .meta({ description: 'part `config` (JSON) and part `code` (the code); without `image`' });
