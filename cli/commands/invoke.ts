// stratus invoke NAME: a sync call of the function URL (the answer's body on stdout, exit 1 for an
// error status), or --async: POST /v1/functions/:name/invocations, and with --wait the invocation
// followed to its end. The admin key is never sent to the function URL: the function would see it.

import fs from 'node:fs/promises';
import path from 'node:path';
import type { ApiClient } from '../client.js';
import { readStdin, type Context } from '../context.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { hasControls, safeLine, safeText } from '../terminal-text.js';

export interface InvokeOptions {
  data?: string;
  async?: boolean;
  wait?: boolean;
  path?: string;
  method?: string;
  header?: string[];
  invokeKey?: string;
  idempotencyKey?: string;
  include?: boolean;
  json?: boolean;
}

interface AsyncView {
  id: string;
  status: string;
  attempts?: number;
  maxAttempts?: number;
  result: { statusCode: number; body: string; contentType?: string } | null;
  error: { code: string; message: string } | null;
}

/** --data: inline text, @file, or @- for stdin. */
async function readData(ctx: Context, data: string | undefined): Promise<Buffer | undefined> {
  if (data === undefined) return undefined;
  if (data === '@-') return readStdin(ctx.stdin);
  if (data.startsWith('@')) {
    const file = path.resolve(ctx.cwd, data.slice(1));
    return fs.readFile(file).catch((err: Error) => {
      throw usageError(`--data ${data}: ${err.message}`);
    });
  }
  return Buffer.from(data);
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

export async function invoke(ctx: Context, name: string, opts: InvokeOptions): Promise<void> {
  const client = await ctx.client();
  const body = await readData(ctx, opts.data);
  if (opts.async) return invokeAsync(ctx, client, name, body, opts);
  if (opts.wait) throw usageError('--wait waits for an --async invocation; a sync call always waits');

  const headers: Record<string, string> = {};
  for (const h of opts.header ?? []) {
    const colon = h.indexOf(':');
    if (colon <= 0) throw usageError(`--header takes "Name: value", not "${h}"`);
    headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
  }
  if (body !== undefined && !headers['content-type']) headers['content-type'] = parseJson(body).ok ? 'application/json' : 'text/plain; charset=utf-8';
  if (opts.invokeKey) headers['x-stratus-key'] = opts.invokeKey;
  const method = (opts.method ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  const url = client.functionUrl(name, opts.path ?? '');
  const res = await client.invokeUrl(url, { method, headers, body });
  const answer = Buffer.from(await res.arrayBuffer());
  if (opts.include) {
    ctx.ui.line(safeLine(`HTTP ${res.status} ${res.statusText}`));
    res.headers.forEach((v, k) => ctx.ui.line(safeLine(`${k}: ${v}`)));
    ctx.ui.line();
  }
  // Stratus's own refusals (problem+json) are told on stderr; anything else is the function's answer.
  const problem = res.headers.get('content-type')?.startsWith('application/problem+json') ? parseJson(answer) : { ok: false as const };
  if (!problem.ok || opts.include) printAnswer(ctx, answer, res.headers.get('content-type'));
  if (!res.ok) throw new CliError(failureMessage(name, res, problem.ok ? (problem.value as { code?: string; detail?: string }) : undefined));
}

/**
 * The function's answer. To a pipe or a file: its bytes as they are — the user's data, for jq or a
 * file. To a terminal: text the function wrote must not drive it (clear the screen, set the title,
 * hide a link), so controls are shown escaped, with a note saying how to get the bytes; an answer
 * that is not UTF-8 text is described, not poured onto the terminal.
 */
function printAnswer(ctx: Context, answer: Buffer, contentType: string | null): void {
  const ui = ctx.ui;
  if (!ui.tty) return ui.raw(answer);
  if (answer.length === 0) return;
  let text: string;
  try {
    text = UTF8.decode(answer);
  } catch {
    ui.warn(`(${answer.length} bytes that are not UTF-8 text${contentType ? `, ${safeLine(contentType)}` : ''}: not shown on a terminal — \`> FILE\` or \`| …\` gets them)`);
    return;
  }
  ui.raw(safeText(text));
  // A terminal's prompt would otherwise start right after the body.
  if (!text.endsWith('\n')) ui.raw('\n');
  if (hasControls(text)) ui.warn('(the answer holds terminal control characters, shown escaped as \\x1b …; `> FILE` or `| …` gets its bytes as they are)');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function failureMessage(name: string, res: Response, problem: { code?: string; detail?: string } | undefined): string {
  const head = `${name} answered ${res.status}${problem?.code ? ` ${problem.code}` : ''}${problem?.detail ? `: ${problem.detail}` : ''}`;
  if (problem?.code === 'FUNCTION_NOT_FOUND') return `${head} — \`stratus ls\` lists the functions`;
  const requestId = res.headers.get('x-stratus-request-id');
  if (res.status >= 500 && requestId) return `${head} — its log lines: \`stratus logs ${name.split('@')[0]} --request ${requestId}\``;
  return head;
}

async function invokeAsync(ctx: Context, client: ApiClient, name: string, body: Buffer | undefined, opts: InvokeOptions): Promise<void> {
  let data: unknown = null;
  if (body !== undefined) {
    const parsed = parseJson(body);
    if (!parsed.ok) throw usageError('an async invocation carries JSON: --data must be valid JSON (it becomes the event\'s data)');
    data = parsed.value;
  }
  if (opts.path || opts.method || opts.header?.length || opts.invokeKey) throw usageError('--path, --method, --header and --invoke-key are for a sync call of the function URL, not --async');
  const headers = opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : undefined;
  const queued = await client.call<{ id: string; duplicate: boolean }>('POST', `/v1/functions/${encodeURIComponent(name)}/invocations`, { json: data, headers });
  if (!opts.wait) {
    if (opts.json) return ctx.ui.json(queued);
    ctx.ui.line(`queued ${queued.id}${queued.duplicate ? ' (a repeat of this Idempotency-Key: nothing new queued)' : ''}`);
    ctx.ui.line(ctx.ui.dim(`\`stratus invoke ${name} --async --wait\` waits for the result; \`stratus logs ${name} --request ${queued.id}\` shows its lines`));
    return;
  }
  if (!opts.json) ctx.ui.line(ctx.ui.dim(`queued ${queued.id}`));
  let lastAttempts = 0;
  ctx.ui.spin(() => `waiting for ${queued.id}`);
  let view: AsyncView;
  try {
    for (;;) {
      view = await client.call<AsyncView>('GET', `/v1/invocations/${encodeURIComponent(queued.id)}`);
      if (view.status === 'succeeded' || view.status === 'dead') break;
      // "failed" is between attempts: the next one is scheduled.
      if (view.status === 'failed' && (view.attempts ?? 0) > lastAttempts && !opts.json) {
        ctx.ui.warn(safeLine(`attempt ${view.attempts} of ${view.maxAttempts ?? '?'} failed: ${view.error?.code ?? ''} ${view.error?.message ?? ''}; retrying`));
      }
      lastAttempts = view.attempts ?? lastAttempts;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    ctx.ui.stopSpinner();
  }
  if (opts.json) ctx.ui.json(view);
  else if (view.result) printAnswer(ctx, Buffer.from(`${view.result.body}\n`), view.result.contentType ?? null);
  if (view.status === 'dead') {
    throw new CliError(`${queued.id} failed every attempt (${view.attempts ?? '?'}): ${view.error?.code ?? ''} ${view.error?.message ?? ''} — it is a dead letter now; \`stratus logs ${name} --request ${queued.id}\``, EXIT.failed);
  }
}
