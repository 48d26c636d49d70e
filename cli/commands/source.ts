// stratus source NAME [VERSION]: saves a version's code as it was uploaded (GET /v1/functions/NAME/versions/N/
// source) — the .zip, .tar.gz or single file — into the current directory under its uploaded name, or -o FILE.
// The serving version when none is named. An existing file is kept unless --force.

import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebStream } from 'node:stream/web';
import type { Context } from '../context.js';
import { CliError, usageError } from '../errors.js';

export interface SourceOptions {
  output?: string;
  force?: boolean;
}

/** The file name the answer suggests, reduced to one safe path segment (it is the server's word, not ours). */
export function suggestedName(disposition: string | null, fallback: string): string {
  const m = /filename="([^"]*)"/.exec(disposition ?? '');
  const base = path.basename((m?.[1] ?? '').replace(/\\/g, '/')).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  return base || fallback;
}

export async function source(ctx: Context, name: string, version: string | undefined, opts: SourceOptions): Promise<void> {
  const client = await ctx.client();
  const fnPath = `/v1/functions/${encodeURIComponent(name)}`;
  let v: number;
  if (version === undefined) {
    const fn = await client.call<{ currentVersion: number | null }>('GET', fnPath);
    if (fn.currentVersion === null) throw new CliError(`${name} serves no version yet: name one (stratus versions ${name})`);
    v = fn.currentVersion;
  } else {
    v = Number(version.replace(/^v/, ''));
    if (!Number.isInteger(v) || v < 1) throw usageError(`the version is a number (1, 2, … or v2), not ${JSON.stringify(version)}`);
  }
  const res = await client.stream(`${fnPath}/versions/${v}/source`);
  const file = path.resolve(ctx.cwd, opts.output ?? suggestedName(res.headers.get('content-disposition'), `${name}-v${v}`));
  let handle;
  try {
    handle = await fs.open(file, opts.force ? 'w' : 'wx');
  } catch (err) {
    await res.body?.cancel();
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(`${file} exists; add --force to overwrite it, or -o to name another file`);
    throw err;
  }
  await pipeline(Readable.fromWeb(res.body as WebStream<Uint8Array>), handle.createWriteStream());
  ctx.ui.line(`${name} v${v}: ${path.relative(ctx.cwd, file) || file}`);
}
