// The one way an upload becomes a version, for POST /v1/functions (multipart) and the console's deploy
// (gateway/ui/console/): the form streamed to disk (upload.ts), the config part parsed and validated with
// the API's messages, then FunctionService.deployUpload (the builder's unpacking and checks while the
// request waits) and the config's triggers declared. Neither caller has a second path.

import fs from 'node:fs';
import type http from 'node:http';
import { StratusError } from '../../core/errors.js';
import { mergeFunctionConfig, parseFunctionConfig, type FunctionConfig } from '../../core/function-config.js';
import { newBuildId } from '../../core/ids.js';
import type { DeployResult } from '../../core/ports/deployer.js';
import { StateLayout } from '../../core/state-layout.js';
import { parseTriggerList, type TriggerSpec } from '../../core/triggers.js';
import type { FunctionService } from '../../control/functions/function-service.js';
import type { TriggerService } from '../../control/triggers/trigger-service.js';
import { parseUpload } from './upload.js';

export interface DeployUploadDeps {
  service: FunctionService;
  triggers: TriggerService;
  stateDir: string;
  maxUploadBytes: number;
}

export interface UploadDeployed {
  result: DeployResult;
  /** The function's triggers as declared, when the config carried `triggers`. */
  triggers?: Awaited<ReturnType<TriggerService['declare']>>;
}

/**
 * Receives a multipart upload (parts config and code) and deploys it; a 4xx StratusError for anything wrong.
 * `inherit`: the config part changes these settings as a PATCH would (the console's redeploy of edited code
 * keeps the version's settings, secrets included, without ever sending them to the page).
 */
export async function deployUpload(req: http.IncomingMessage, deps: DeployUploadDeps, inherit?: FunctionConfig): Promise<UploadDeployed> {
  const buildId = newBuildId();
  const dir = new StateLayout(deps.stateDir).upload(buildId);
  const upload = await parseUpload(req, dir, deps.maxUploadBytes);
  let deployed: { result: DeployResult; triggers: TriggerSpec[] | undefined };
  try {
    const { config, triggers } = parseConfigPart(upload.configText, inherit);
    if (!upload.code) throw new StratusError('INVALID_REQUEST', 'add a file part named "code" (a .zip, a .tar.gz or a single source file)', { field: 'code' });
    if (upload.code.bytes === 0) throw new StratusError('INVALID_REQUEST', 'the "code" part is empty', { field: 'code' });
    deployed = { result: await deps.service.deployUpload(config, buildId, upload.code), triggers };
  } catch (err) {
    await fs.promises.rm(dir, { recursive: true, force: true });
    throw err;
  }
  // A config carrying `triggers` replaces the function's triggers once the new version is recorded; a bad
  // trigger was refused above, before anything was recorded, like a bad setting.
  if (deployed.triggers === undefined) return { result: deployed.result };
  return { result: deployed.result, triggers: await deps.triggers.declare(deployed.result.name, deployed.triggers) };
}

/**
 * The deploy config's `triggers` list is the function's, not the version's: it is taken out and validated
 * on its own (INVALID_TRIGGER naming config.triggers.N.field) before the settings are.
 */
export function splitTriggers(input: unknown, field: string): { config: unknown; triggers: TriggerSpec[] | undefined } {
  if (typeof input !== 'object' || input === null || Array.isArray(input) || !('triggers' in input)) return { config: input, triggers: undefined };
  const { triggers, ...config } = input as { triggers: unknown };
  return { config, triggers: parseTriggerList(triggers, `${field}.triggers`) };
}

function parseConfigPart(text: string | undefined, inherit?: FunctionConfig): { config: FunctionConfig; triggers: TriggerSpec[] | undefined } {
  if (text === undefined) throw new StratusError('INVALID_REQUEST', 'add a part named "config" holding the function configuration as JSON', { field: 'config' });
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch {
    throw new StratusError('INVALID_REQUEST', 'the "config" part is not valid JSON', { field: 'config' });
  }
  const { config: settings, triggers } = splitTriggers(input, 'config');
  const config = inherit ? mergeFunctionConfig(inherit, settings) : parseFunctionConfig(settings, 'config');
  if (config.image !== undefined) {
    throw new StratusError('INVALID_CONFIG', 'an upload brings its own code; to run your own image send application/json without a code part', { field: 'config.image' });
  }
  return { config, triggers };
}
