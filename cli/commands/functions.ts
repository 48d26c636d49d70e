// Reading and removing functions: ls, get, versions, delete; and one build (stratus build ID [-f]).

import readline from 'node:readline/promises';
import { checkProblemLines, printCheckProblems } from '../check-report.js';
import { ApiError } from '../client.js';
import { followBuild, readBuild, timingLine } from '../build-follow.js';
import type { Context } from '../context.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { safeLine, safeText } from '../terminal-text.js';
import { ago } from '../ui.js';

export interface ReadOptions {
  json?: boolean;
}

interface FunctionSummary {
  name: string;
  runtime: string | null;
  status: string;
  currentVersion: number | null;
  latestVersion: number;
  url: string;
  updatedAt: string;
}

interface VersionView {
  version: number;
  status: string;
  image: string | null;
  buildId: string | null;
  createdAt: string;
  /** What made the version (upload, PATCH, git commit, rollback), once versions record it. */
  trigger?: unknown;
  [key: string]: unknown;
}

interface FunctionView extends FunctionSummary {
  config: Record<string, unknown>;
  failing?: { lastError?: string; failures?: number; nextTryAt?: string } | null;
  versions: VersionView[];
  [key: string]: unknown;
}

const fnPath = (name: string) => `/v1/functions/${encodeURIComponent(name)}`;
const versionCell = (f: { currentVersion: number | null; latestVersion: number }) =>
  f.currentVersion === null ? `- (v${f.latestVersion} not built)` : f.latestVersion > f.currentVersion ? `v${f.currentVersion} (newest: v${f.latestVersion})` : `v${f.currentVersion}`;

export async function list(ctx: Context, opts: ReadOptions): Promise<void> {
  const res = await (await ctx.client()).call<{ functions: FunctionSummary[] }>('GET', '/v1/functions');
  if (opts.json) return ctx.ui.json(res);
  if (res.functions.length === 0) return ctx.ui.line('no functions yet: `stratus deploy DIR` makes one');
  ctx.ui.table(
    ['NAME', 'STATUS', 'VERSION', 'RUNTIME', 'UPDATED', 'URL'],
    res.functions.map((f) => [f.name, f.status, versionCell(f), f.runtime, ago(f.updatedAt), f.url]),
  );
}

export async function get(ctx: Context, name: string, opts: ReadOptions): Promise<void> {
  const fn = await (await ctx.client()).call<FunctionView>('GET', fnPath(name));
  if (opts.json) return ctx.ui.json(fn);
  const c = fn.config;
  const ui = ctx.ui;
  ui.fields([
    ['name', fn.name],
    ['status', fn.status, fn.status === 'ready' ? (s) => ui.ok(s) : fn.status === 'failed' || fn.status === 'failing' ? (s) => ui.bad(s) : undefined],
    ['url', fn.url],
    ['version', versionCell(fn)],
    ['runtime', (c.runtime as string | undefined) ?? (c.image ? `image ${String(c.image)}` : null)],
    ['handler', (c.handler as string | undefined) ?? 'default'],
    ['memory', `${String(c.memoryMb ?? 256)} MB`],
    ['timeout', `${String(c.timeoutMs ?? 30000)} ms`],
    ['instances', `${String(c.minInstances ?? 0)}–${String(c.maxInstances ?? 10)}, ${String(c.concurrency ?? 8)} requests each`],
    ['env', Object.keys((c.env as Record<string, string> | undefined) ?? {}).join(', ') || null],
    ['updated', `${fn.updatedAt} (${ago(fn.updatedAt)})`],
    ['failing', fn.failing ? `${fn.failing.lastError ?? 'instances fail to start'} (${fn.failing.failures ?? '?'} in a row) — \`stratus logs ${fn.name}\`` : undefined],
    ['aliases', aliasesCell(fn.aliases)],
    ['rollout', rolloutCell(fn.rollout)],
    ['versions', `${fn.versions.length} — \`stratus versions ${fn.name}\``],
  ]);
}

export async function versions(ctx: Context, name: string, opts: ReadOptions): Promise<void> {
  const client = await ctx.client();
  const fn = await client.call<FunctionView>('GET', fnPath(name));
  let list: VersionView[];
  let raw: unknown;
  try {
    raw = await client.call<{ versions: VersionView[] }>('GET', `${fnPath(name)}/versions`);
    list = (raw as { versions: VersionView[] }).versions;
  } catch (err) {
    // A Stratus without the versions route (before issue 9's aliases) answers NOT_FOUND for the route;
    // the function record has carried its versions all along.
    if (!(err instanceof ApiError && err.problem.code === 'NOT_FOUND')) throw err;
    list = fn.versions;
    raw = { versions: list };
  }
  if (opts.json) return ctx.ui.json(raw);
  const sorted = [...list].sort((a, b) => b.version - a.version);
  ctx.ui.table(
    ['VERSION', 'STATUS', 'CREATED', 'ORIGIN', 'ALIASES', 'IMAGE'],
    sorted.map((v) => [`${v.version === fn.currentVersion ? '* ' : '  '}v${v.version}`, v.status, ago(v.createdAt), origin(v), Array.isArray(v.aliases) ? v.aliases.join(',') : null, v.image]),
  );
  if (fn.currentVersion !== null) ctx.ui.line(ctx.ui.dim(safeLine(`* serves the plain URL (v${fn.currentVersion})`)));
}

/** "latest → v3, beta → v3 80% v4 20%" from the record's { alias: { versions } }. */
function aliasesCell(aliases: unknown): string | undefined {
  if (typeof aliases !== 'object' || aliases === null) return undefined;
  const parts = Object.entries(aliases as Record<string, { versions?: { version: number; weight: number }[] }>).map(
    ([a, t]) => `${a} → ${(t.versions ?? []).map((v) => (t.versions!.length > 1 ? `v${v.version} ${v.weight}%` : `v${v.version}`)).join(' ')}`,
  );
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** The last rollout in one line: what moved, to what, and how it ended. */
function rolloutCell(r: unknown): string | undefined {
  if (typeof r !== 'object' || r === null) return undefined;
  const o = r as { alias?: string; cause?: string; state?: string; to?: { version: number }[]; reason?: string | null; startedAt?: string };
  const to = (o.to ?? []).map((v) => `v${v.version}`).join('+');
  return `${o.alias ?? '?'} → ${to} (${o.cause ?? '?'}): ${o.state ?? '?'}${o.reason ? ` — ${o.reason}` : ''}${o.startedAt ? `, ${ago(o.startedAt)}` : ''}`;
}

/** What made a version, in a few words, whatever shape the record gives it. */
function origin(v: VersionView): string | null {
  const t = v.trigger ?? v.source ?? v.origin;
  if (t === undefined || t === null) return null;
  if (typeof t !== 'object') return String(t);
  const o = t as Record<string, unknown>;
  const commit = typeof o.commit === 'string' ? ` ${o.commit.slice(0, 8)}` : '';
  return `${String(o.type ?? o.kind ?? 'build')}${commit}`;
}

export async function remove(ctx: Context, name: string, opts: { yes?: boolean }): Promise<void> {
  if (!opts.yes) {
    if (!ctx.stdin.isTTY) throw usageError(`deleting ${name} cannot be undone: pass --yes to delete without a question`);
    const rl = readline.createInterface({ input: ctx.stdin, output: process.stdout });
    try {
      const answer = await rl.question(`Delete ${name} with its versions, instances, images, logs and triggers? Type its name to confirm: `);
      if (answer.trim() !== name) throw new CliError('not deleted', EXIT.failed);
    } finally {
      rl.close();
    }
  }
  await (await ctx.client()).call('DELETE', fnPath(name));
  ctx.ui.line(`${ctx.ui.ok('✓')} deleted ${name}`);
}

export async function build(ctx: Context, id: string, opts: ReadOptions & { follow?: boolean; verbose?: boolean }): Promise<void> {
  const client = await ctx.client();
  if (opts.follow) {
    const b = await followBuild(client, ctx.ui, id, { verbose: opts.verbose, silent: opts.json });
    if (opts.json) ctx.ui.json(b);
    else if (b.failedStage === 'check') printCheckProblems(ctx.ui, await checkProblemLines(client, id));
    if (b.status !== 'succeeded') throw new CliError(`build ${id} (${b.function} v${b.version}) failed: ${b.error ?? 'no reason recorded'}`);
    return;
  }
  const b = await readBuild(client, id);
  if (opts.json) return ctx.ui.json(b);
  ctx.ui.fields([
    ['build', b.id],
    ['function', `${b.function} v${b.version}`],
    ['status', b.status],
    ['created', b.createdAt],
    ['timings', timingLine(b.timings) || null],
    ['image', b.image],
    ['error', b.error ?? undefined],
  ]);
  if (b.failedStage === 'check') printCheckProblems(ctx.ui, await checkProblemLines(client, id));
  const log = await client.send('GET', `/v1/builds/${encodeURIComponent(id)}/logs`, {});
  if (log.ok) ctx.ui.line(`\n${safeText((await log.text()).trimEnd())}`);
}
