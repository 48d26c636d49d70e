// A function's triggers (read: they are declared in stratus.yaml and replaced by `stratus deploy`) and
// its invoke keys (for an http trigger with auth: key): create, list, revoke; a schedule's next fires before it is declared.

import type { Context } from '../context.js';
import { safeLine } from '../terminal-text.js';
import { ago } from '../ui.js';

const fnPath = (name: string) => `/v1/functions/${encodeURIComponent(name)}`;

interface TriggerView {
  id: string;
  type: string;
  createdAt: string;
  [key: string]: unknown;
}

/** The part of a trigger that tells it apart: its schedule, its bucket and events, its URL settings. */
function detail(t: TriggerView): string {
  if (t.type === 'cron') return `${String(t.schedule)} ${String(t.timezone ?? 'UTC')}`;
  if (t.type === 'storage') {
    const filter = (t.filter ?? {}) as { prefix?: string; suffix?: string };
    return `${String(t.source ?? 'stratus')}:${String(t.bucket)} ${((t.events as string[] | undefined) ?? []).join(',')}${filter.prefix ? ` prefix=${filter.prefix}` : ''}${filter.suffix ? ` suffix=${filter.suffix}` : ''}`;
  }
  if (t.type === 'http') return `auth=${String(t.auth ?? 'public')}${Array.isArray(t.methods) ? ` methods=${t.methods.join(',')}` : ''}${t.cors ? ' cors' : ''}`;
  return '';
}

export async function triggers(ctx: Context, name: string, opts: { json?: boolean }): Promise<void> {
  const res = await (await ctx.client()).call<{ triggers: TriggerView[] }>('GET', `${fnPath(name)}/triggers`);
  if (opts.json) return ctx.ui.json(res);
  if (res.triggers.length === 0) return ctx.ui.line(`${name} has no triggers: list them under triggers: in stratus.yaml and deploy`);
  ctx.ui.table(['ID', 'TYPE', 'WHAT', 'CREATED'], res.triggers.map((t) => [t.id, t.type, detail(t), ago(t.createdAt)]));
}

/** The next fire times of a schedule before it goes into stratus.yaml (GET /v1/triggers/cron-preview; nothing is saved). */
export async function cronPreview(ctx: Context, schedule: string, opts: { timezone?: string; count?: string; json?: boolean }): Promise<void> {
  const res = await (await ctx.client()).call<{ schedule: string; timezone: string; next: string[] }>('GET', '/v1/triggers/cron-preview', { query: { schedule, timezone: opts.timezone, count: opts.count } });
  if (opts.json) return ctx.ui.json(res);
  ctx.ui.line(ctx.ui.dim(safeLine(`${res.schedule} in ${res.timezone} fires next at:`)));
  for (const t of res.next) ctx.ui.line(safeLine(t));
}

interface KeyView {
  id: string;
  name: string | null;
  createdAt: string;
  [key: string]: unknown;
}

export async function createKey(ctx: Context, name: string, opts: { note?: string; json?: boolean }): Promise<void> {
  const res = await (await ctx.client()).call<KeyView & { key: string; header: string }>('POST', `${fnPath(name)}/keys`, { json: opts.note ? { name: opts.note } : {} });
  if (opts.json) return ctx.ui.json(res);
  ctx.ui.line(safeLine(res.key));
  ctx.ui.warn(ctx.ui.dim(safeLine(`key ${res.id} for ${name}: shown this once; send it in ${res.header} (\`stratus invoke ${name} --invoke-key KEY\`)`)));
}

export async function listKeys(ctx: Context, name: string, opts: { json?: boolean }): Promise<void> {
  const res = await (await ctx.client()).call<{ keys: KeyView[] }>('GET', `${fnPath(name)}/keys`);
  if (opts.json) return ctx.ui.json(res);
  if (res.keys.length === 0) return ctx.ui.line(`${name} has no invoke keys: \`stratus keys create ${name}\` issues one`);
  ctx.ui.table(['ID', 'NOTE', 'CREATED'], res.keys.map((k) => [k.id, k.name, ago(k.createdAt)]));
}

export async function revokeKey(ctx: Context, name: string, id: string): Promise<void> {
  await (await ctx.client()).call('DELETE', `${fnPath(name)}/keys/${encodeURIComponent(id)}`);
  ctx.ui.line(`${ctx.ui.ok('✓')} revoked key ${id} of ${name}`);
}
