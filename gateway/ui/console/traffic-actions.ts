// The traffic page and its actions, each a move of an alias through the release service the API uses
// (warm first, then one compare-and-set): start a canary, promote it, roll back, point an alias.
//   GET  /ui/functions/:name/traffic
//   POST /ui/functions/:name/traffic/{canary,promote,rollback,move}
// A move can take as long as a cold start: the action waits a moment for it (a refusal or a warm version
// answers at once), then lets it run and sends the browser to the page, whose live stream follows the
// rollout to done or abandoned.

import express, { type Request, type Response, type Router } from 'express';
import { LATEST, checkAliasName, parseAliasBody } from '../../../core/aliases.js';
import { StratusError } from '../../../core/errors.js';
import type { MoveResult } from '../../../control/releases/release-service.js';
import type { DashboardDeps } from '../deps.js';
import { seg } from '../html.js';
import { formValues, one } from './posted-fields.js';
import { fnName, flashAction, sendPage, sessionOf } from './page-answers.js';
import { describeVersions, trafficBody } from './traffic-page.js';

/** How long an action waits for its move before the page takes over following it. */
export const ROLLOUT_WAIT_MS = 1500;

const trafficPage = (req: Request) => `/ui/functions/${seg(fnName(req))}/traffic`;

export function trafficRouter(d: DashboardDeps): Router {
  const router = express.Router();
  const alias = (req: Request) => {
    const a = one(formValues(req), 'alias') || LATEST;
    checkAliasName(a);
    return a;
  };
  const versionField = (req: Request, k: string): number => {
    const v = one(formValues(req), k);
    if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new StratusError('INVALID_REQUEST', `${k}: a version number (1, 2, …)`, { field: k });
    return Number(v);
  };
  const servedBy = async (name: string, a: string) => {
    const vs = (await d.releases.aliases(name))[a];
    if (!vs) throw new StratusError('NOT_FOUND', `function ${name} has no alias "${a}"`, { function: name, field: 'alias' });
    return vs;
  };

  /** Waits up to ROLLOUT_WAIT_MS for a move; a move still warming goes on, followed by the page. */
  const follow = async (name: string, a: string, moving: Promise<MoveResult>, to: string): Promise<string> => {
    let timer: NodeJS.Timeout | undefined;
    const later = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ROLLOUT_WAIT_MS)));
    const settled = await Promise.race([moving.then((r) => ({ r })), later]).finally(() => clearTimeout(timer));
    if (settled === null) {
      // Abandoned or done, the move writes its outcome on the function's rollout, which the page shows.
      moving.catch((err: unknown) => d.logger.info('dashboard rollout did not complete', { function: name, alias: a, reason: err instanceof Error ? err.message : String(err) }));
      return `${a} of ${name} is moving to ${to}: waiting for a ready instance, this page follows it`;
    }
    const { r } = settled;
    return r.rollout.state === 'abandoned' ? `${a} did not move: ${r.rollout.reason ?? 'abandoned'}` : `${a} of ${name} serves ${describeVersions(r.versions)} (was ${describeVersions(r.previous)})`;
  };

  router.get('/functions/:name/traffic', async (req: Request, res: Response) => {
    const name = fnName(req);
    await sendPage(res, 200, `${name} · traffic`, await trafficBody(d, name, sessionOf(res)), { live: `view=traffic&name=${encodeURIComponent(name)}` });
  });

  router.post('/functions/:name/traffic/canary', flashAction(d, trafficPage, async (req) => {
    const [name, a] = [fnName(req), alias(req)];
    const weight = one(formValues(req), 'weight');
    if (!/^\d{1,2}$/.test(weight) || Number(weight) < 1) throw new StratusError('INVALID_REQUEST', 'weight: the canary\'s share, a whole percent from 1 to 99', { field: 'weight' });
    // The API's own check of the body (two different versions, weights adding up to 100).
    const to = parseAliasBody({ versions: [{ version: versionField(req, 'stable'), weight: 100 - Number(weight) }, { version: versionField(req, 'canary'), weight: Number(weight) }] });
    return follow(name, a, d.releases.move(name, a, to, 'alias', `canary at ${weight} % from the dashboard`), describeVersions(to));
  }));

  router.post('/functions/:name/traffic/promote', flashAction(d, trafficPage, async (req) => {
    const [name, a] = [fnName(req), alias(req)];
    const vs = await servedBy(name, a);
    if (vs.length < 2) throw new StratusError('CONFLICT', `${a} serves ${describeVersions(vs)} only: there is no canary to promote`, { function: name, field: 'alias' });
    const to = [{ version: vs[1]!.version, weight: 100 }];
    return follow(name, a, d.releases.move(name, a, to, 'alias', `canary v${vs[1]!.version} promoted from the dashboard`), describeVersions(to));
  }));

  router.post('/functions/:name/traffic/rollback', flashAction(d, trafficPage, async (req) => {
    const [name, a] = [fnName(req), alias(req)];
    const vs = await servedBy(name, a);
    if (vs.length > 1) {
      const to = [{ version: vs[0]!.version, weight: 100 }];
      const why = `canary v${vs[1]!.version} rolled back from the dashboard`;
      // latest goes back through rollback() (it notifies "rollback" as the API's rollback does); another alias is moved.
      const moving = a === LATEST ? d.releases.rollback(name, vs[0]!.version, false, why) : d.releases.move(name, a, to, 'rollback', why);
      return follow(name, a, moving, describeVersions(to));
    }
    if (a !== LATEST) throw new StratusError('CONFLICT', `${a} serves ${describeVersions(vs)} only: point it at another version to roll it back`, { function: name, field: 'alias' });
    return follow(name, a, d.releases.rollback(name, undefined), 'the previous good version');
  }));

  router.post('/functions/:name/traffic/move', flashAction(d, trafficPage, async (req) => {
    const [name, a] = [fnName(req), alias(req)];
    const to = [{ version: versionField(req, 'version'), weight: 100 }];
    return follow(name, a, d.releases.move(name, a, to, 'alias'), describeVersions(to));
  }));

  return router;
}
