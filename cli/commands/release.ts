// Which version serves: rollback, aliases (one version, or two with weights for a canary). Written
// against issue 9's contract:
//   POST /v1/functions/:name/rollback {} | { version } → { name, version, previous }
//   PUT /v1/functions/:name/aliases/:alias { version } | { versions: [{ version, weight }, …] }
//   GET /v1/functions/:name/aliases, DELETE /v1/functions/:name/aliases/:alias

import type { Context } from '../context.js';
import { usageError } from '../errors.js';
import { safeLine } from '../terminal-text.js';

const fnPath = (name: string) => `/v1/functions/${encodeURIComponent(name)}`;

interface Weighted {
  version: number;
  weight: number;
}

/** What a move answers (PUT …/aliases/:alias and POST …/rollback): the alias, now and before, and its rollout. */
interface MoveAnswer {
  name: string;
  alias?: string;
  version: number;
  versions?: Weighted[];
  previous?: Weighted[] | number | null;
  rollout?: { state?: string; reason?: string | null } | null;
}

function describeMove(m: MoveAnswer): string {
  const now = describeTarget({ version: m.version, versions: m.versions });
  const before = m.previous === null || m.previous === undefined ? '' : ` (was ${typeof m.previous === 'number' ? `v${m.previous}` : describeTarget({ versions: m.previous })})`;
  const rollout = m.rollout?.state && m.rollout.state !== 'done' ? `; rollout ${m.rollout.state}${m.rollout.reason ? `: ${m.rollout.reason}` : ''}` : '';
  return `${now}${before}${rollout}`;
}

export async function rollback(ctx: Context, name: string, opts: { to?: string; json?: boolean }): Promise<void> {
  const body = opts.to === undefined ? {} : { version: versionNumber(opts.to, '--to') };
  const res = await (await ctx.client()).call<MoveAnswer>('POST', `${fnPath(name)}/rollback`, { json: body });
  if (opts.json) return ctx.ui.json(res);
  ctx.ui.line(`${ctx.ui.ok('✓')} ${safeLine(`${res.name} serves ${describeMove(res)}`)}`);
}

export type AliasTarget = { version: number } | { versions: { version: number; weight: number }[] };

/**
 * "3" → { version: 3 }; "3:80,4:20" or "3,4:20" → both with weights, a weight left out being the rest
 * of 100 (so "3,4:20" is a 20 % canary of v4 beside v3). A leading "v" is accepted: "v3".
 */
export function parseAliasTarget(spec: string): AliasTarget {
  const parts = spec.split(',').map((p) => p.trim());
  const items = parts.map((p) => {
    const [v, w, extra] = p.split(':');
    if (extra !== undefined || v === undefined) throw usageError(`"${p}" is not VERSION or VERSION:WEIGHT`);
    return { version: versionNumber(v, 'VERSION'), weight: w === undefined ? undefined : weightOf(w) };
  });
  if (items.length === 1 && items[0]!.weight === undefined) return { version: items[0]!.version };
  if (new Set(items.map((i) => i.version)).size !== items.length) throw usageError(`${spec}: each version at most once`);
  const unset = items.filter((i) => i.weight === undefined);
  if (unset.length > 1) throw usageError(`${spec}: give the weights of all versions but one (that one gets the rest of 100)`);
  const given = items.reduce((n, i) => n + (i.weight ?? 0), 0);
  const rest = 100 - given;
  if (unset.length === 1 ? rest < 0 : rest !== 0) throw usageError(`${spec}: the weights add up to ${given}; they must make 100`);
  return { versions: items.map((i) => ({ version: i.version, weight: i.weight ?? rest })) };
}

function versionNumber(value: string, what: string): number {
  const m = /^v?(\d+)$/.exec(value.trim());
  if (!m || Number(m[1]) < 1) throw usageError(`${what} takes a version number such as 3 (or v3), not "${value}"`);
  return Number(m[1]);
}

function weightOf(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 100) throw usageError(`a weight is a whole percentage 0–100, not "${value}"`);
  return n;
}

export async function setAlias(ctx: Context, name: string, alias: string, spec: string, opts: { json?: boolean }): Promise<void> {
  const target = parseAliasTarget(spec);
  const client = await ctx.client();
  const res = await client.call<MoveAnswer>('PUT', `${fnPath(name)}/aliases/${encodeURIComponent(alias)}`, { json: target });
  if (opts.json) return ctx.ui.json(res);
  ctx.ui.line(`${ctx.ui.ok('✓')} ${safeLine(`${name}@${alias} → ${describeMove(res)}`)}`);
  ctx.ui.line(ctx.ui.dim(`  ${safeLine(client.functionUrl(`${name}@${alias}`))}`));
}

/** An alias as GET …/aliases gives it: its weighted versions by name (or { versions, updatedAt } by name). */
type AliasView = Weighted[] | { versions?: Weighted[] };

export async function listAliases(ctx: Context, name: string, opts: { json?: boolean }): Promise<void> {
  const res = await (await ctx.client()).call<{ aliases: Record<string, AliasView> }>('GET', `${fnPath(name)}/aliases`);
  if (opts.json) return ctx.ui.json(res);
  const entries = Object.entries(res.aliases ?? {});
  if (entries.length === 0) return ctx.ui.line(`${name} has no aliases: \`stratus alias ${name} live 3\` makes one`);
  ctx.ui.table(['ALIAS', 'VERSIONS'], entries.map(([alias, a]) => [alias, describeTarget(Array.isArray(a) ? { versions: a } : a)]));
}

export async function removeAlias(ctx: Context, name: string, alias: string): Promise<void> {
  await (await ctx.client()).call('DELETE', `${fnPath(name)}/aliases/${encodeURIComponent(alias)}`);
  ctx.ui.line(`${ctx.ui.ok('✓')} removed ${name}@${alias}`);
}

function describeTarget(t: { version?: number; versions?: Weighted[] }): string {
  if (t.versions && t.versions.length > 1) return t.versions.map((v) => `v${v.version} ${v.weight}%`).join(', ');
  if (t.versions?.length === 1) return `v${t.versions[0]!.version}`;
  return t.version !== undefined ? `v${t.version}` : '-';
}
