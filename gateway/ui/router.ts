// The dashboard at /ui: server-rendered pages (no build step), a small script that follows their live
// stream, uPlot for the charts, served from node_modules by Stratus itself. Sign-in exchanges the admin key
// for a session cookie (sessions.ts: kept by the store, so every replica knows it); every other page, stream
// and action needs it (guard.ts). /v1 never takes the cookie: it keeps its Bearer key, which no other site
// can make a browser send.

import { createRequire } from 'node:module';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { StratusError } from '../../core/errors.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { dashboardOrigin } from '../dataplane/origins.js';
import { asStratusError, sendProblem } from '../http/problem.js';
import { actionsRouter } from './actions.js';
import { triggersTrafficRouter } from './console/triggers-traffic.js';
import { deadLettersConsole } from './console/dead-letters.js';
import { storageConsole } from './console/storage.js';
import { consoleRouter } from './console/router.js';
import type { DashboardDeps } from './deps.js';
import { checkOrigin, isHttps, readCookie, requireSession, securityHeaders, SESSION_COOKIE, sessionCookie, wantsHtml } from './guard.js';
import { html } from './html.js';
import { answerPage, type PageOptions } from './layout.js';
import { liveHandler } from './live.js';
import { buildBody, buildFragments, invocationBody, invocationFragments } from './pages/details.js';
import { functionBody, functionFragments } from './pages/function.js';
import { functionsBody, functionsFragments } from './pages/functions.js';
import { hostBody, hostFragments } from './pages/host.js';
import { loginBody, safeNext } from './pages/login.js';
import type { Session } from './sessions.js';
import { sendOwnFile } from '../http/send-file.js';

const require = createRequire(import.meta.url);
const OWN_ASSETS = path.join(PROJECT_ROOT, 'gateway', 'ui', 'assets');
/** The only files /ui/assets serves (no path from the request ever reaches the file system). */
const ASSETS: Record<string, string> = {
  'dashboard.js': path.join(OWN_ASSETS, 'dashboard.js'),
  'dashboard.css': path.join(OWN_ASSETS, 'dashboard.css'),
  'storage.js': path.join(OWN_ASSETS, 'storage.js'),
  'uPlot.iife.min.js': require.resolve('uplot/dist/uPlot.iife.min.js'),
  'uPlot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
};

export interface Dashboard {
  router: Router;
  close(): void;
}

export function createDashboard(d: DashboardDeps): Dashboard {
  const sessions = d.store.sessions(d.clock);
  const streams = new Set<() => void>();
  const publicUrl = d.config.publicUrl;
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '300kb' });
  const json = express.json({ limit: '300kb' });
  const session = (res: Response) => res.locals.uiSession as Session;
  const send = (res: Response, status: number, title: string, body: PageOptions['body'], s: Session | null, extra: Partial<Omit<PageOptions, 'flash'>> = {}) =>
    answerPage(res, status, { title, session: s, body, ...extra });

  router.use(securityHeaders);
  // On a host function content can set cookies for (e.g. "localhost" for *.fn.localhost) a session could be
  // planted or shadowed: the dashboard only answers where no function reaches (gateway/dataplane/origins.ts).
  router.use((req, res, next) => {
    if (!d.origins.sharesCookiesWithFunctions(req.headers.host)) return next();
    const home = dashboardOrigin(d.config, req.headers.host ?? '');
    if (req.method === 'GET' || req.method === 'HEAD') return res.redirect(303, `${home}${req.originalUrl}`);
    next(new StratusError('MISDIRECTED_REQUEST', `the dashboard is not served on ${String(req.headers.host)}, a host function content can set cookies for; use ${home}/ui`));
  });
  // Static and public: the sign-in page needs them, and they hold no data.
  router.get('/assets/:file', (req, res, next) => {
    const file = ASSETS[String(req.params.file)];
    if (!file) return next();
    res.setHeader('cache-control', 'no-cache');
    sendOwnFile(res, file);
  });

  router.get('/login', async (req, res) => {
    const next = safeNext(req.query.next);
    if (await sessions.get(readCookie(req, SESSION_COOKIE))) return res.redirect(303, next);
    await send(res, 200, 'Sign in', loginBody(next, null), null);
  });

  router.post('/login', form, async (req, res) => {
    checkOrigin(req, publicUrl); // nobody else's page may sign this browser in
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next);
    // The admin key's check and its per-client throttle, shared with /v1's Bearer check (gateway/api/auth.ts).
    const throttled = (wait: number) => new StratusError('SIGN_IN_THROTTLED', `too many wrong keys from this address; try again in ${wait} s`, { retryAfterSeconds: wait });
    if (!d.adminKey.verify(req, typeof body.key === 'string' ? body.key.trim() : '', throttled)) {
      return send(res, 401, 'Sign in', loginBody(next, 'That is not the admin key.'), null);
    }
    const { id } = await sessions.create();
    res.setHeader('set-cookie', sessionCookie(id, Math.floor(sessions.limits.maxAgeMs / 1000), isHttps(req, publicUrl)));
    res.redirect(303, next);
  });

  // Everything below needs the session; actions also its CSRF token and this origin.
  router.use(form, json, requireSession(sessions, publicUrl));

  router.post('/logout', async (req, res) => {
    await sessions.delete(readCookie(req, SESSION_COOKIE)); // on every replica: the store's record goes
    res.setHeader('set-cookie', sessionCookie('', 0, isHttps(req, publicUrl)));
    res.redirect(303, '/ui/login');
  });

  router.get('/', (_req, res) => res.redirect(303, '/ui/functions'));

  router.get('/functions', async (req, res) => {
    const q = typeof req.query.q === 'string' ? req.query.q.slice(0, 100) : '';
    const f = await functionsFragments(d, q);
    await send(res, 200, 'Functions', functionsBody(f, q), session(res), { nav: 'functions', live: `view=functions&q=${encodeURIComponent(q)}` });
  });

  router.get('/functions/:name', async (req, res) => {
    const name = String(req.params.name);
    const f = await functionFragments(d, name);
    await send(res, 200, name, functionBody(d, name, f, session(res)), session(res), { nav: 'functions', live: `view=function&name=${encodeURIComponent(name)}` });
  });

  router.get('/functions/:name/invocations/:id', async (req, res) => {
    const [name, id] = [String(req.params.name), String(req.params.id)];
    const f = await invocationFragments(d, name, id);
    await send(res, 200, `Invocation ${id.slice(0, 8)}`, invocationBody(f), session(res), { nav: 'functions', live: `view=invocation&name=${encodeURIComponent(name)}&id=${encodeURIComponent(id)}` });
  });

  router.get('/builds/:id', async (req, res) => {
    const id = String(req.params.id);
    const f = await buildFragments(d, id);
    await send(res, 200, `Build ${id.slice(0, 8)}`, await buildBody(d, id, f), session(res), { nav: 'functions', live: `view=build&id=${encodeURIComponent(id)}` });
  });

  router.get('/host', async (_req, res) => {
    await send(res, 200, 'Host', hostBody(await hostFragments(d)), session(res), { nav: 'host', live: 'view=host' });
  });

  router.get('/live', liveHandler(d, streams));
  // The build's log stream and report as /v1 serves them, the same code, behind the cookie: read-only.
  router.use('/api', (req, _res, next) => next(req.method === 'GET' ? undefined : new StratusError('NOT_FOUND', 'the dashboard reads builds here, nothing else')), d.builds);
  router.use(consoleRouter(d)); // create, edit, diff and deploy code (gateway/ui/console/)
  router.use(actionsRouter(d));
  router.use(triggersTrafficRouter(d)); // triggers, keys and traffic (gateway/ui/console/)
  router.use(storageConsole(d), deadLettersConsole(d));

  router.use((req, _res, next) => next(new StratusError('NOT_FOUND', `no dashboard page at ${req.originalUrl.split('?')[0]}`)));
  router.use(async (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const requestId = String(res.getHeader('x-stratus-request-id') ?? '');
    if (!wantsHtml(req) || res.headersSent) return sendProblem(res, err, requestId, d.logger, req.originalUrl.split('?')[0]);
    const e = asStratusError(err, requestId, d.logger);
    if (e.details.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(e.details.retryAfterSeconds));
    const s = (res.locals.uiSession as Session | undefined) ?? null;
    await send(res, e.status, e.code === 'SIGN_IN_THROTTLED' ? 'Sign in' : 'Error', html`<section class="panel"><h1>${e.status} ${e.code}</h1><p>${e.message}</p><p><a href="/ui/functions">Back to the functions</a></p></section>`, s);
  });

  return {
    router,
    close: () => {
      [...streams].forEach((stop) => stop());
      sessions.close();
    },
  };
}
