// stratus login: checks the URL and key against Stratus, then keeps them in the config file (0600).
// stratus config: which URL and key the CLI would use and where each came from (the key masked).

import { ApiClient } from '../client.js';
import { configFilePath, normaliseUrl, resolveConnection } from '../config.js';
import { saveLogin } from '../config.js';
import { readStdin, type Context } from '../context.js';
import { usageError } from '../errors.js';
import { safeCell } from '../terminal-text.js';

export async function login(ctx: Context, opts: { url: string; key?: string; check?: boolean }): Promise<void> {
  const url = normaliseUrl(opts.url, '--url');
  // A key on the command line stays in the shell's history: piping it in is offered too.
  let key = opts.key;
  if (key === undefined && !ctx.stdin.isTTY) key = (await readStdin(ctx.stdin)).toString('utf8').trim();
  if (!key) throw usageError('give the admin key: --key KEY, or pipe it in (`stratus login --url URL < .stratus/api-key`)');
  if (opts.check !== false) {
    // Any authenticated read proves both: something answers there, and it takes this key.
    await new ApiClient({ url, urlFrom: '--url', apiKey: key, keyFrom: '--key' }).call('GET', '/v1/functions');
  }
  const file = await saveLogin(ctx, url, key);
  ctx.ui.line(`${ctx.ui.ok('✓')} ${opts.check === false ? 'saved' : 'logged in to'} ${url}; kept in ${file} (readable by you only)`);
  if (ctx.env.STRATUS_URL || ctx.env.STRATUS_API_KEY) ctx.ui.warn('note: STRATUS_URL / STRATUS_API_KEY are set in this shell and take precedence over the file');
}

export async function showConfig(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const conn = await resolveConnection(ctx);
  const masked = conn.apiKey ? `…${conn.apiKey.slice(-4)}` : null;
  const view = { url: conn.url, urlFrom: conn.urlFrom, apiKey: masked, keyFrom: conn.keyFrom ?? null, configFile: configFilePath(ctx) };
  if (opts.json) return ctx.ui.json(view);
  ctx.ui.fields([
    ['url', view.url, (s) => `${s} ${ctx.ui.dim(`(from ${safeCell(view.urlFrom)})`)}`],
    ['key', view.apiKey ?? 'none: set STRATUS_API_KEY or run `stratus login`', view.apiKey ? (s) => `${s} ${ctx.ui.dim(`(from ${safeCell(view.keyFrom ?? '')})`)}` : undefined],
    ['config file', view.configFile],
  ]);
}
