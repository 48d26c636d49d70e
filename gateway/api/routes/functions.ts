// /v1/functions: upload (multipart code or JSON image), list, show, patch, delete, instances.
// Parsing and validation happen here; what a change means for store, builder and scheduler lives in
// FunctionService.

import express, { type Request, type Router } from 'express';
import { StratusError } from '../../../core/errors.js';
import { parseFunctionConfig } from '../../../core/function-config.js';
import type { TriggerSpec } from '../../../core/triggers.js';
import type { Scheduler } from '../../../scheduler/scheduler.js';
import type { FunctionService } from '../../../control/functions/function-service.js';
import type { TriggerService } from '../../../control/triggers/trigger-service.js';
import type { Origins } from '../../dataplane/origins.js';
import { deployUpload, splitTriggers } from '../deploy-upload.js';
import type { DeployResult } from '../../../core/ports/deployer.js';

export interface FunctionsRouteDeps {
  service: FunctionService;
  triggers: TriggerService;
  scheduler: Scheduler;
  stateDir: string;
  maxUploadBytes: number;
  publicUrl: string | undefined;
  origins: Origins;
}

const json = express.json({ limit: '1mb' });

export function functionsRouter(deps: FunctionsRouteDeps): Router {
  const router = express.Router();
  const base = (req: Request) => deps.publicUrl?.replace(/\/$/, '') ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`;
  // Two URLs per function: its own origin (for browsers and anyone it is given to) and /fn/NAME on the
  // API's origin, for programs whose resolver does not know *.localhost (sandboxed: gateway/dataplane/origins.ts).
  const urls = (req: Request, name: string) => ({ url: deps.origins.functionUrl(name, req.get('host')), apiUrl: `${base(req)}/fn/${name}` });

  const answerDeploy = (req: Request, result: DeployResult) => ({
    ...result,
    links: {
      ...(result.buildId ? { build: `/v1/builds/${result.buildId}`, logs: `/v1/builds/${result.buildId}/logs` } : {}),
      ...urls(req, result.name),
    },
  });

  // A config carrying `triggers` replaces the function's triggers once the new version is recorded; a bad
  // trigger is refused before anything is recorded, like a bad setting.
  const declareTriggers = async (result: DeployResult, triggers: TriggerSpec[] | undefined) =>
    triggers === undefined ? {} : { triggers: await deps.triggers.declare(result.name, triggers) };

  router.post('/functions', json, async (req, res) => {
    if (req.is('multipart/form-data')) {
      const { result, triggers } = await deployUpload(req, deps);
      res.status(202).location(`/v1/builds/${result.buildId}`).json({ ...answerDeploy(req, result), ...(triggers ? { triggers } : {}) });
    } else if (req.is('application/json')) {
      const { config, triggers } = splitTriggers(req.body, 'body');
      const result = await deployImage(config);
      res.status(201).location(`/v1/functions/${result.name}`).json({ ...answerDeploy(req, result), ...(await declareTriggers(result, triggers)) });
    } else {
      throw unsupported('multipart/form-data (config + code) or application/json (config + image)');
    }
  });

  const deployImage = (body: unknown) => {
    const config = parseFunctionConfig(body, 'body');
    if (config.image === undefined) {
      throw new StratusError('INVALID_CONFIG', 'a JSON body deploys your own image: give "image", or upload code as multipart/form-data with parts config and code', { field: 'body.image' });
    }
    return deps.service.deployImage({ ...config, image: config.image });
  };

  router.get('/functions', async (req, res) => {
    const all = await deps.service.list();
    res.json({
      functions: all.map(({ fn, status }) => ({
        name: fn.name, runtime: fn.config.runtime ?? null, status, currentVersion: fn.currentVersion,
        latestVersion: fn.latestVersion, ...urls(req, fn.name), updatedAt: fn.updatedAt,
      })),
    });
  });

  router.get('/functions/:name', async (req, res) => {
    const { fn, versions, status, failing } = await deps.service.get(String(req.params.name));
    // failing: why the current version's instances do not start and when the next try is; the logs say more.
    const failure = failing && { ...failing, logs: `/v1/functions/${fn.name}/logs` };
    res.json({ ...fn, status, failing: failure, ...urls(req, fn.name), versions });
  });

  router.patch('/functions/:name', json, async (req, res) => {
    if (!req.is('application/json')) throw unsupported('application/json (the configuration fields to change)');
    const result = await deps.service.patch(String(req.params.name), req.body);
    res.json({ ...result, status: 'ready', ...urls(req, result.name) });
  });

  router.delete('/functions/:name', async (req, res) => {
    await deps.service.remove(String(req.params.name));
    res.status(204).end();
  });

  router.get('/functions/:name/instances', async (req, res) => {
    const name = String(req.params.name);
    await deps.service.get(name); // 404 for an unknown function rather than an empty list
    res.json({ instances: deps.scheduler.instances(name) });
  });

  return router;
}

function unsupported(expected: string): StratusError {
  return new StratusError('UNSUPPORTED_MEDIA_TYPE', `send ${expected}`, { field: 'content-type' });
}
