// The command line: every command, its arguments and flags, with commander. Each action only hands its
// parsed input to a function in commands/; what a command does lives there.

//
// Each command's module is imported when that command runs, not before: the CLI starts in ~0.1 s of its
// own instead of ~0.3 s, because yaml, tar-stream and ignore (deploy's) load only for deploy.

import { Command, Option } from 'commander';
import type { Context } from './context.js';

const functions = () => import('./commands/functions.js');
const release = () => import('./commands/release.js');
const keysOf = () => import('./commands/triggers.js');
const loginOf = () => import('./commands/login.js');

const collect = (value: string, previous: string[] = []) => [...previous, value];
const json = () => new Option('--json', "print the API's JSON instead of a table");

export function buildProgram(ctx: Context, version: string): Command {
  const program = new Command('stratus')
    .description('Deploy and run functions on a Stratus platform. URL and key: STRATUS_URL / STRATUS_API_KEY, `stratus login`, or .stratus/api-key where `npm start` runs.')
    .version(version)
    .showHelpAfterError('(add --help for usage)')
    // `alias ls NAME --json`: an option after a subcommand is the subcommand's, not its parent's.
    .enablePositionalOptions()
    // Usage errors become a CommanderError for main.ts to turn into exit code 2.
    .exitOverride();

  program
    .command('deploy')
    .description('pack a directory (honouring .stratusignore; node_modules left out: Stratus installs from package.json; files that look like secrets left out and named: a !NAME line in .stratusignore sends one), upload it and follow the build')
    .argument('[dir]', 'the function directory, or a single source file', '.')
    .option('-n, --name <name>', 'function name (else name: in stratus.yaml)')
    .option('-r, --runtime <runtime>', 'node or python (else runtime: in stratus.yaml, else guessed from the files)')
    .option('--handler <handler>', 'file.export (Node) or module.function (Python)')
    .option('-m, --memory <mb>', 'memory limit in MB')
    .option('-t, --timeout <duration>', 'per-request timeout: milliseconds, or 30s, 2m')
    .option('--concurrency <n>', 'requests one instance serves at once')
    .option('--min-instances <n>', 'instances kept warm')
    .option('--max-instances <n>', 'upper bound of instances')
    .option('-e, --env <NAME=value>', 'environment variable (repeatable; merged over env: in stratus.yaml)', collect)
    .option('-c, --config <file>', 'the settings file (default: stratus.yaml in the directory)')
    .option('-v, --verbose', "show the tools' output (npm, docker) under each stage")
    .option('--no-wait', 'upload and print the build id without following it')
    .option('--json', 'print the upload answer and the build record as JSON, no progress')
    .action(async (dir: string, opts) => (await import('./commands/deploy.js')).deploy(ctx, dir, opts));

  program.command('ls').alias('list').description('list the functions').addOption(json()).action(async (opts) => (await functions()).list(ctx, opts));
  program.command('get').description('show one function').argument('<name>').addOption(json()).action(async (name: string, opts) => (await functions()).get(ctx, name, opts));
  program.command('source').description("save a version's code as it was uploaded (default: the serving version)").argument('<name>').argument('[version]').option('-o, --output <file>', 'where to save it (default: its uploaded name, here)').option('--force', 'overwrite an existing file').action(async (name: string, version: string | undefined, opts) => (await import('./commands/source.js')).source(ctx, name, version, opts));
  program.command('versions').description("list a function's versions (* serves the plain URL)").argument('<name>').addOption(json()).action(async (name: string, opts) => (await functions()).versions(ctx, name, opts));

  program
    .command('build')
    .description('show a build and its log, or follow it')
    .argument('<id>', 'the build id `stratus deploy` printed')
    .option('-f, --follow', 'follow the build until it ends')
    .option('-v, --verbose', "with --follow: the tools' output too")
    .addOption(json())
    .action(async (id: string, opts) => (await functions()).build(ctx, id, opts));

  program
    .command('logs')
    .description("what a function's instances wrote, newest last")
    .argument('<name>')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('--since <time>', 'only lines after an ISO time, or within a span: 30s, 5m, 2h')
    .option('--request <id>', "one invocation's lines (its x-stratus-request-id or async id)")
    .option('--limit <n>', 'the newest this many lines (1–1000)', '100')
    .option('--interval <ms>', 'with --follow: how often to ask', '1000')
    .addOption(json())
    .action(async (name: string, opts) => (await import('./commands/logs.js')).logs(ctx, name, opts));

  program
    .command('invoke')
    .description('call a function: its URL (sync), or queue an async invocation')
    .argument('<name>', 'the function, or NAME@ALIAS / NAME@vN')
    .option('-d, --data <data>', 'the body: text or JSON, @file, or @- for stdin')
    .option('--async', 'queue an async invocation (the data must be JSON)')
    .option('-w, --wait', 'with --async: wait for the result')
    .option('-p, --path <path>', 'sync: the path after /fn/NAME, with a query if any')
    .option('-X, --method <method>', 'sync: the HTTP method (default GET, POST with --data)')
    .option('-H, --header <header>', 'sync: a request header "Name: value" (repeatable)', collect)
    .option('--invoke-key <key>', 'sync: an invoke key, for a URL whose http trigger has auth: key')
    .option('--idempotency-key <key>', 'async: queue at most once per key')
    .option('-i, --include', 'sync: print the status line and headers')
    .addOption(json())
    .action(async (name: string, opts) => (await import('./commands/invoke.js')).invoke(ctx, name, opts));

  program
    .command('rollback')
    .description('serve the previous good version at once (or --to N)')
    .argument('<name>')
    .option('--to <version>', 'the version to serve')
    .addOption(json())
    .action(async (name: string, opts) => (await release()).rollback(ctx, name, opts));

  const alias = program
    .command('alias')
    .description('point an alias at a version, or split it between two (3,4:20 = v4 gets 20 %)')
    .argument('<name>')
    .argument('<alias>')
    .argument('<versions>', 'VERSION, or VERSION:WEIGHT,VERSION:WEIGHT (one weight may be left out: the rest of 100)')
    .addOption(json())
    .action(async (name: string, aliasName: string, spec: string, opts) => (await release()).setAlias(ctx, name, aliasName, spec, opts));
  alias.command('ls').description("list a function's aliases").argument('<name>').addOption(json()).action(async (name: string, opts) => (await release()).listAliases(ctx, name, opts));
  alias.command('rm').description('remove an alias').argument('<name>').argument('<alias>').action(async (name: string, aliasName: string) => (await release()).removeAlias(ctx, name, aliasName));

  program
    .command('delete')
    .alias('rm')
    .description('delete a function with its versions, instances, images, logs and triggers')
    .argument('<name>')
    .option('-y, --yes', 'do not ask')
    .action(async (name: string, opts) => (await functions()).remove(ctx, name, opts));

  program.command('triggers').description("list a function's triggers (declare them in stratus.yaml)").argument('<name>').addOption(json()).action(async (name: string, opts) => (await keysOf()).triggers(ctx, name, opts));
  program.command('cron-preview').description("a cron schedule's next fire times, as Stratus will fire them (nothing is saved)").argument('<schedule>', 'e.g. "*/5 * * * *", or 6 fields with seconds first').option('--timezone <zone>', 'an IANA time zone (default UTC)').option('--count <n>', 'how many fire times (1-20, default 5)').addOption(json()).action(async (schedule: string, opts) => (await keysOf()).cronPreview(ctx, schedule, opts));

  const keys = program.command('keys').description('invoke keys for a function URL with auth: key');
  keys.command('create').description('issue a key (shown once)').argument('<name>').option('--note <text>', 'tells the key apart in listings').addOption(json()).action(async (name: string, opts) => (await keysOf()).createKey(ctx, name, opts));
  keys.command('ls').description("list a function's keys (never the keys themselves)").argument('<name>').addOption(json()).action(async (name: string, opts) => (await keysOf()).listKeys(ctx, name, opts));
  keys.command('rm').description('revoke a key at once').argument('<name>').argument('<id>').action(async (name: string, id: string) => (await keysOf()).revokeKey(ctx, name, id));

  program
    .command('login')
    .description('check a URL and key against Stratus and keep them in ~/.config/stratus/config.json (0600)')
    .requiredOption('--url <url>', 'where Stratus listens, e.g. http://127.0.0.1:8080')
    .option('--key <key>', 'the admin key (or pipe it in)')
    .option('--no-check', 'save without asking Stratus first')
    .action(async (opts) => (await loginOf()).login(ctx, opts));
  program.command('config').description('which URL and key the CLI uses, and where each comes from').addOption(json()).action(async (opts) => (await loginOf()).showConfig(ctx, opts));

  return program;
}
