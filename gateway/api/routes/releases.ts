// Versions, aliases and rollback over the API (admin key, like the rest of /v1):
//   GET /v1/functions/:name/versions, GET /v1/functions/:name/aliases
//   PUT/DELETE /v1/functions/:name/aliases/:alias, POST /v1/functions/:name/rollback
// Parsing only; moving an alias (warm first, then one compare-and-set) is ReleaseService's.

import express, { type Router } from 'express';
import { z } from 'zod';
import { checkAliasName, parseAliasBody } from '../../../core/aliases.js';
import { StratusError, functionNotFound } from '../../../core/errors.js';
import type { Store } from '../../../core/store/store.js';
import type { MoveResult, ReleaseService } from '../../../control/releases/release-service.js';

const json = express.json({ limit: '16kb' });

/** The body of POST /v1/functions/:name/rollback: {} for the previous good version, or the version to serve. */
export const rollbackBodySchema = z.strictObject({ version: z.number().int().min(1).optional().meta({ description: 'the version to serve; unset: the previous good version' }) });

function parseRollbackBody(input: unknown): number | undefined {
  const parsed = rollbackBodySchema.safeParse(input);
  if (parsed.success) return parsed.data.version;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') throw new StratusError('INVALID_REQUEST', `unknown field "${issue.keys[0]}"; send {} or {"version": N}`, { field: `body.${issue.keys[0]}` });
  if (issue.path[0] === 'version') throw new StratusError('INVALID_REQUEST', 'version: a version number (1, 2, …)', { field: 'body.version' });
  throw new StratusError('INVALID_REQUEST', 'send {} (the previous good version) or {"version": N}', { field: 'body' });
}

const answer = (m: MoveResult) => ({ name: m.name, alias: m.alias, versions: m.versions, version: m.versions[0]!.version, previous: m.previous, rollout: m.rollout });

export function releasesRouter(releases: ReleaseService, store: Store): Router {
  const router = express.Router();
  const name = (req: express.Request) => String(req.params.name);

  router.get('/functions/:name/versions', async (req, res) => {
    const fn = await store.getFunction(name(req));
    if (!fn) throw functionNotFound(name(req));
    const aliases = await releases.aliases(fn.name);
    const servedBy = (v: number) => Object.entries(aliases).filter(([, vs]) => vs.some((w) => w.version === v)).map(([a]) => a);
    res.json({ versions: (await store.listVersions(fn.name)).map((v) => ({ ...v, aliases: servedBy(v.version) })) });
  });

  router.get('/functions/:name/aliases', async (req, res) => {
    res.json({ aliases: await releases.aliases(name(req)) });
  });

  router.put('/functions/:name/aliases/:alias', json, async (req, res) => {
    const alias = String(req.params.alias);
    checkAliasName(alias);
    if (!req.is('application/json')) throw new StratusError('UNSUPPORTED_MEDIA_TYPE', 'send {"version": N} or {"versions": [{"version": N, "weight": 80}, {"version": M, "weight": 20}]} as application/json', { field: 'content-type' });
    res.json(answer(await releases.move(name(req), alias, parseAliasBody(req.body), 'alias')));
  });

  router.delete('/functions/:name/aliases/:alias', async (req, res) => {
    await releases.deleteAlias(name(req), String(req.params.alias));
    res.status(204).end();
  });

  router.post('/functions/:name/rollback', json, async (req, res) => {
    res.json(answer(await releases.rollback(name(req), parseRollbackBody(req.body ?? {}))));
  });

  return router;
}
