// stratus deploy [dir]: stratus.yaml + flags → config, the directory packed (.stratusignore honoured),
// one multipart upload, then the build followed to its end. Exit 0 only when the new version serves.

import fs from 'node:fs/promises';
import path from 'node:path';
import { checkProblemLines, printCheckProblems } from '../check-report.js';
import { ApiError } from '../client.js';
import { followBuild, timingLine, type BuildView } from '../build-follow.js';
import type { Context } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { IGNORE_FILE, packDirectory } from '../pack.js';
import { applyFlags, checkDeployConfig, guessRuntime, readProjectFile, sourceOfField, type DeployFlags } from '../project.js';
import { safeLine } from '../terminal-text.js';
import { bytes, duration } from '../ui.js';

export interface DeployOptions extends DeployFlags {
  json?: boolean;
  verbose?: boolean;
  /** false with --no-wait: upload and print the build id. */
  wait?: boolean;
}

interface DeployAnswer {
  name: string;
  version: number;
  buildId: string;
  status: string;
  links: { url: string; build?: string; logs?: string };
  triggers?: { id: string; type: string; schedule?: string; bucket?: string }[];
}

export async function deploy(ctx: Context, target: string | undefined, opts: DeployOptions): Promise<void> {
  const { ui } = ctx;
  const where = path.resolve(ctx.cwd, target ?? '.');
  const stat = await fs.stat(where).catch(() => {
    throw usageError(`${target ?? '.'}: no such directory or file to deploy`);
  });
  const isFile = stat.isFile();
  const project = await readProjectFile(isFile ? path.dirname(where) : where, opts.config && path.resolve(ctx.cwd, opts.config));
  const config = applyFlags(project.config, opts);
  const say = (line: string) => (opts.json ? undefined : ui.line(line));
  if (config.runtime === undefined && config.image === undefined) {
    const guess = await guessRuntime(where, isFile);
    if (guess) {
      config.runtime = guess;
      say(ui.dim(`runtime ${guess} (guessed from the files; set runtime in stratus.yaml to say it)`));
    }
  }
  checkDeployConfig(config, project.file);
  if (project.file) say(ui.dim(`config from ${path.relative(ctx.cwd, project.file) || project.file}`));

  let code: Blob;
  let codeName: string;
  if (isFile) {
    const content = await fs.readFile(where);
    [code, codeName] = [new Blob([content]), path.basename(where)];
    say(`Uploading ${codeName} (${bytes(content.length)})`);
  } else {
    const packed = await packDirectory(where);
    [code, codeName] = [new Blob([packed.archive]), 'code.tar.gz'];
    const out = packed.alwaysLeftOut.map(safeLine);
    if (packed.ignored.some((p) => p.endsWith('node_modules/'))) out.push('node_modules/ (Stratus installs dependencies from package.json)');
    if (packed.secrets.length > 0) out.push(`${paths(packed.secrets.length)} that look like secrets`);
    const byRules = packed.ignored.filter((p) => !p.endsWith('node_modules/'));
    if (byRules.length > 0) out.push(`${paths(byRules.length)} matching ${IGNORE_FILE}`);
    say(`Packed ${packed.files} file${packed.files > 1 ? 's' : ''} (${bytes(packed.bytes)}, ${bytes(packed.archive.length)} compressed)${out.length > 0 ? `; left out ${out.join(', ')}` : ''}`);
    // By name, on stderr even with --json: a file the function needs must not go missing unseen.
    if (packed.secrets.length > 0) ui.warn(secretsNote(packed.secrets));
    for (const s of packed.skipped) ui.warn(`skipped ${safeLine(s)}: not a file, directory or symlink`);
  }

  const client = await ctx.client();
  const form = new FormData();
  form.set('config', new Blob([JSON.stringify(config)], { type: 'application/json' }));
  form.set('code', code, codeName);
  const answer = await client.call<DeployAnswer>('POST', '/v1/functions', { body: form, long: true }).catch((err: unknown) => {
    // A refused setting names "config.FIELD": say where that field came from.
    const from = err instanceof ApiError && typeof err.problem.field === 'string' ? sourceOfField(err.problem.field, opts, project.file) : undefined;
    if (from && err instanceof Error) err.message += ` — set by ${from}`;
    throw err;
  });
  say(`Uploaded ${safeLine(answer.name)} v${answer.version} ${ui.dim(`(build ${safeLine(answer.buildId)})`)}`);
  for (const t of answer.triggers ?? []) say(ui.dim(safeLine(`  trigger ${t.type} ${t.schedule ?? t.bucket ?? ''} (${t.id})`)));
  if (opts.wait === false) {
    if (opts.json) ui.json(answer);
    else say(safeLine(`the build runs on: \`stratus build ${answer.buildId} -f\` follows it`));
    return;
  }

  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.once('SIGINT', onSigint);
  let build: BuildView;
  try {
    build = await followBuild(client, ui, answer.buildId, { verbose: opts.verbose, silent: opts.json, signal: stop.signal });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (opts.json) ui.json({ ...answer, build });
  if (build.status !== 'succeeded') {
    if (build.failedStage === 'check' && !opts.json) printCheckProblems(ui, await checkProblemLines(client, answer.buildId));
    const serving = await client
      .call<{ currentVersion: number | null }>('GET', `/v1/functions/${encodeURIComponent(answer.name)}`)
      .then((fn) => (fn.currentVersion !== null ? `; v${fn.currentVersion} keeps serving` : ''))
      .catch(() => '');
    throw new CliError(`build of ${answer.name} v${answer.version} failed: ${build.error ?? 'no reason recorded'}${serving} — full log: \`stratus build ${answer.buildId}\``);
  }
  const took = build.finishedAt ? ` in ${duration(Date.parse(build.finishedAt) - Date.parse(build.createdAt))}` : '';
  say(`${ui.ok('✓')} ${safeLine(answer.name)} v${answer.version} is live${took} ${ui.dim(safeLine(timingLine(build.timings)))}`);
  say(`  ${safeLine(answer.links.url)}`);
}

const paths = (n: number) => `${n} path${n > 1 ? 's' : ''}`;
/** Secret-looking paths named in the note; the rest are counted. */
const NAMED_SECRETS = 20;

/** "left out 2 paths that look like secrets: .env, key.pem — a line `!.env` in .stratusignore sends one on purpose". */
export function secretsNote(secrets: string[]): string {
  const named = secrets.slice(0, NAMED_SECRETS).map(safeLine).join(', ');
  const more = secrets.length > NAMED_SECRETS ? ` and ${secrets.length - NAMED_SECRETS} more` : '';
  const example = secrets.find((s) => !s.endsWith('/')) ?? secrets[0]!;
  return `left out ${paths(secrets.length)} that look like secrets: ${named}${more} — a line \`!${safeLine(example)}\` in ${IGNORE_FILE} sends one on purpose`;
}
