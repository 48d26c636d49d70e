// POST /v1/hooks/git/:name — push events of GitHub, GitLab and Gitea build the function (docs/pipeline.md,
// "Git push builds"). Mounted before the admin-key check: a forge cannot send the admin key; it proves the function's
// git.secret instead (services/git/signature.ts). In order, each step refusing before the next costs more:
//   1. the function exists and has git settings, the request names a forge   (before the body is read)
//   2. the raw body, at most MAX_GIT_HOOK_BODY_BYTES, authenticated          → 401 otherwise
//   3. a GitHub ping is answered; other non-push events are skipped
//   4. the push parsed; another branch, a deletion, nothing under `directory` → 200 { skipped }
//   5. the repository to fetch decided (pinned, or the event's http(s) URL resolved to addresses the
//      policy allows: core/ip-policy.ts)                                     → 403 otherwise
//   6. the commit is not an older version of the function (unless ?redeploy=true) → 409 otherwise
//   7. the forge's delivery id remembered in the store (SET NX, for DELIVERY_MEMORY_MS): a delivery seen
//      before is answered 200 { duplicate: true } and builds nothing
//   8. fetch, pack and deployUpload (GitDeployer), answered 202 with the build — or, when that takes longer
//      than ANSWER_WITHIN_MS, 202 { status: "fetching" } at once while it goes on (forges give up on a hook
//      after 10 s, Gitea by default after 5; GitLab disables a hook that keeps timing out).
// A fetch's failure is answered without git's words (they would tell the caller what listens where); they
// are logged with the request id.

import { createHash } from 'node:crypto';
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import { StratusError, isStratusError } from '../../../core/errors.js';
import { FUNCTION_NAME } from '../../../core/function-config.js';
import type { GitSettings } from '../../../core/git-settings.js';
import type { Logger } from '../../../core/log.js';
import type { Store } from '../../../core/store/store.js';
import type { GitDeployResult } from '../../../services/git/git-deployer.js';
import type { GitService } from '../../../services/git/index.js';
import { parsePushEvent, skipReason } from '../../../services/git/push-event.js';
import { CREDENTIAL_HEADER, checkCredential, hookSender, type HookSender } from '../../../services/git/signature.js';
import { REQUEST_ID_HEADER } from '../../../core/invocation-contract.js';

export const GIT_HOOK_PATH = '/hooks/git/:name';
/** A push of hundreds of commits with their file lists stays well below; GitHub caps payloads at 25 MB. */
export const MAX_GIT_HOOK_BODY_BYTES = 4 * 1024 * 1024;
/** Below every forge's patience (Gitea's default is 5 s). */
export const ANSWER_WITHIN_MS = 4000;
/** How long a delivery id is remembered: GitHub lets a delivery be redelivered for 3 days. */
export const DELIVERY_MEMORY_MS = 7 * 86_400_000;

export interface GitHooksDeps {
  /** Fetches, packs and deploys a push (services/git/). */
  git: Pick<GitService, 'admit' | 'deploy'>;
  store: Pick<Store, 'getFunction' | 'claimLease'>;
  logger: Logger;
  answerWithinMs?: number;
}

interface Hook {
  name: string;
  git: GitSettings;
  sender: HookSender;
  latestVersion: number;
  redeploy: boolean;
}

export function gitHooksRouter(deps: GitHooksDeps): Router {
  const logger = deps.logger.child({ component: 'git-hooks' });
  const deployer = deps.git;
  const raw = express.raw({ type: () => true, limit: MAX_GIT_HOOK_BODY_BYTES });
  const readBody: RequestHandler = (req, res, next) =>
    raw(req, res, (err?: unknown) => {
      const tooLarge = (err as { type?: unknown } | undefined)?.type === 'entity.too.large';
      next(tooLarge ? new StratusError('PAYLOAD_TOO_LARGE', `a push hook's body is at most ${MAX_GIT_HOOK_BODY_BYTES / 1048576} MiB; push fewer commits at once`, { field: 'body' }) : err);
    });

  const findHook: RequestHandler = async (req, res, next) => {
    const name = String(req.params.name);
    const fn = FUNCTION_NAME.test(name) ? await deps.store.getFunction(name) : null;
    if (!fn) throw new StratusError('FUNCTION_NOT_FOUND', `no function named "${name}"`, { function: name });
    const git = fn.config.git;
    if (!git) throw new StratusError('GIT_NOT_CONFIGURED', `function ${name} has no git settings; set them with PATCH /v1/functions/${name} {"git":{"branch":…,"secret":…}}`, { function: name, field: 'config.git' });
    const sender = hookSender(req.headers);
    if (!sender) throw new StratusError('INVALID_REQUEST', 'not a push hook: send X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event as the forge does', { field: 'headers' });
    const redeploy = redeployAsked(req.query.redeploy);
    // GitLab's token needs no body: a wrong one is refused before anything is read.
    if (sender.forge === 'gitlab') authenticate(sender, req.headers, Buffer.alloc(0), git, name);
    res.locals.hook = { name, git, sender, latestVersion: fn.latestVersion, redeploy } satisfies Hook;
    next();
  };

  const authenticate = (sender: HookSender, headers: Parameters<typeof checkCredential>[1], body: Buffer, git: GitSettings, name: string) => {
    const verdict = checkCredential(sender.forge, headers, body, git.secret);
    if (verdict === 'ok') return;
    const header = CREDENTIAL_HEADER[sender.forge];
    logger.warn('git hook refused', { function: name, forge: sender.forge, delivery: sender.delivery, credential: verdict });
    throw new StratusError('UNAUTHORIZED', verdict === 'missing' ? `send ${header}: the hook's secret must be the function's git.secret` : `${header} does not match: the hook's secret must be the function's git.secret`, { field: header.toLowerCase() });
  };

  const router = express.Router();
  router.post(GIT_HOOK_PATH, findHook, readBody, async (req, res) => {
    const { name, git, sender, latestVersion, redeploy } = res.locals.hook as Hook;
    const requestId = String(res.getHeader(REQUEST_ID_HEADER) ?? '');
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    authenticate(sender, req.headers, body, git, name);
    if (sender.forge === 'github' && sender.event === 'ping') {
      res.json({ ok: true, event: 'ping', function: name });
      return;
    }
    const payload = parsePayload(body, sender.forge === 'github' && typeof req.is('application/x-www-form-urlencoded') === 'string');
    if (!isPush(sender, payload)) {
      res.json({ function: name, skipped: `the ${JSON.stringify(sender.event)} event is not a push` });
      return;
    }
    const event = parsePushEvent(sender.forge, payload);
    const skipped = skipReason(git, event);
    if (skipped) {
      res.json({ function: name, commit: event.after, ref: event.ref, skipped });
      return;
    }
    const push = { function: name, event, redeploy };
    const facts = { requestId, function: name, commit: event.after, forge: sender.forge, delivery: sender.delivery };
    // A delivery is acted on once, whatever came of it: a forge's redelivery of an old push must not build
    // it after newer ones (a failed one included: pushing again is the retry).
    if (sender.delivery !== null && !(await deps.store.claimLease(deliveryKey(name, sender.forge, sender.delivery), DELIVERY_MEMORY_MS)) && !redeploy) {
      logger.info('git push delivery seen before', facts);
      res.json({ function: name, commit: event.after, ref: event.ref, delivery: sender.delivery, duplicate: true, skipped: `delivery ${sender.delivery} was received before: a redelivery builds nothing (push again, or post it with ?redeploy=true to act on it once more)` });
      return;
    }
    // Refusals answered at once; the deployer decides them again when the push's turn comes.
    await deployer.admit(push, git, latestVersion).catch((err: unknown) => {
      logRefusal(logger, 'git push refused', facts, err);
      throw err;
    });
    const job = deployer.deploy(push);
    const outcome = await within(job, deps.answerWithinMs ?? ANSWER_WITHIN_MS).catch((err: unknown) => {
      logRefusal(logger, 'git push failed', facts, err);
      throw err;
    });
    if (outcome === null) {
      void job.then(
        (r) => logger.info('git push handled after its hook was answered', { ...facts, ...('skipped' in r ? { skipped: r.skipped } : { buildId: r.buildId }) }),
        (err: unknown) => logRefusal(logger, 'git push failed after its hook was answered', facts, err),
      );
      res.status(202).json({ function: name, commit: event.after, ref: event.ref, status: 'fetching', links: { function: `/v1/functions/${name}` } });
      return;
    }
    if ('skipped' in outcome) {
      res.json({ function: name, commit: event.after, ref: event.ref, skipped: outcome.skipped });
      return;
    }
    const links = { build: `/v1/builds/${outcome.buildId}`, logs: `/v1/builds/${outcome.buildId}/logs`, function: `/v1/functions/${name}` };
    res.status(202).location(links.build).json({ function: name, commit: outcome.commit, ref: event.ref, version: outcome.version, buildId: outcome.buildId, status: outcome.status, links });
  });
  return router;
}

/** The hook's query (also its description in the OpenAPI document); other parameters are ignored, as forges may add their own. */
export const gitHookQuerySchema = z.object({ redeploy: z.enum(['true', 'false']).optional().meta({ description: 'true builds a commit that is already a version of the function again' }) });

/** ?redeploy=true builds a commit that is already a version; absent or false does not. */
function redeployAsked(value: unknown): boolean {
  const given = gitHookQuerySchema.shape.redeploy.safeParse(value);
  if (given.success) return given.data === 'true';
  throw new StratusError('INVALID_REQUEST', 'redeploy is "true" or "false" (once): true builds a commit that is already a version of the function again', { field: 'redeploy' });
}

/** The store key remembering a delivery; the id is the forge's (unsigned, any printable text): hashed to a fixed length. */
function deliveryKey(fn: string, forge: string, delivery: string): string {
  return `git-delivery:${fn}:${createHash('sha256').update(`${forge}\0${delivery}`).digest('hex')}`;
}

/** The error's whole story (git's words, the refused address) goes to the log only, with the request id. */
function logRefusal(logger: Logger, msg: string, facts: Record<string, unknown>, err: unknown): void {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  const code = isStratusError(err) ? err.code : 'INTERNAL';
  logger.warn(msg, { ...facts, code, error: err instanceof Error ? err.message : String(err), ...(cause ? { cause } : {}) });
}

function isPush(sender: HookSender, payload: unknown): boolean {
  if (sender.forge !== 'gitlab') return sender.event === 'push';
  // A GitLab system hook carries pushes too, told apart by object_kind.
  const kind = typeof payload === 'object' && payload !== null ? (payload as { object_kind?: unknown }).object_kind : undefined;
  return sender.event === 'Push Hook' || (sender.event === 'System Hook' && kind === 'push');
}

/** The body's JSON; GitHub's form content type carries it in the `payload` field. */
function parsePayload(body: Buffer, form: boolean): unknown {
  const text = form ? new URLSearchParams(body.toString('utf8')).get('payload') : body.toString('utf8');
  if (text === null) throw new StratusError('INVALID_REQUEST', 'a form-encoded hook carries its JSON in the "payload" field', { field: 'body.payload' });
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new StratusError('INVALID_REQUEST', 'the hook body is not valid JSON', { field: 'body' });
  }
}

/** The job's result if it settles within `ms`, else null (the job goes on). */
async function within(job: Promise<GitDeployResult>, ms: number): Promise<GitDeployResult | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([job, late]);
  } finally {
    clearTimeout(timer);
  }
}
