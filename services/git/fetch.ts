// Fetching one pushed commit with the host's git: `git init`, `git fetch --depth 1 URL COMMIT`, checkout.
// git runs with an environment built from nothing — PATH, locale, the machine's proxy variables, an empty
// HOME, no system or global config (so no credential helper or url.insteadOf of the host's user applies),
// no terminal prompt, only the URL's own protocol allowed (also for redirects) — and one deadline for all
// of it, past which it is killed. Its output reaches the log only, with credentials replaced: the hook's
// caller is told that the fetch failed, never what git said (which would make the hook a probe of
// whatever the URL names: "connection refused", a banner, a redirect's target).
//
// A URL a hook named (no pinned repository) is fetched from the addresses fetch-target.ts checked, never
// through a proxy (the proxy would resolve and reach the name its own way), with no redirect followed.

import { execFile, spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { StratusError } from '../../core/errors.js';
import { redactUrl } from '../../core/config.js';
import { redactGitOutput } from './repository.js';

export interface GitFetchOptions {
  /** PATH, locale and proxy variables from the platform's config: git gets nothing else of the host's environment. */
  env: Record<string, string>;
  /** The whole fetch (init, fetch, checkout) is killed past this. */
  timeoutMs: number;
}

/** For a URL from a hook: where git may connect (fetch-target.ts). Absent for a pinned repository. */
export interface PinnedTarget {
  /** http.curloptResolve's "host:port:addr,…", or null when the URL is an address itself. */
  resolve: string | null;
}

export interface FetchedCommit {
  /** The checked-out tree (with its .git). */
  dir: string;
  /** The commit message's first line, from git itself (a payload's message could be anything). */
  message: string;
}

const MAX_OUTPUT = 64 * 1024;
/** What servers answer when they do not serve a commit by id (protocol v0 without allowReachableSHA1InWant). */
const NOT_BY_ID = /not our ref|unadvertised object/i;

class GitFailure extends Error {
  constructor(readonly output: string, readonly timedOut: boolean) {
    super(output);
  }
}

/** git 2.37 is the first with http.curloptResolve; an older git ignores the setting and would look the name up itself. */
const RESOLVE_SINCE: [number, number] = [2, 37];
let gitVersion: Promise<[number, number] | null> | undefined;

/**
 * Fetches `commit` of `url` into `workDir`/repo (workDir must not exist; the caller removes it). Throws
 * GIT_FETCH_FAILED when the commit cannot be had: its detail says so and no more, its cause (logged) holds
 * git's last words, redacted. `target` is given for a URL a hook named: git connects to its addresses only.
 */
export async function fetchCommit(url: string, commit: string, branch: string, workDir: string, opts: GitFetchOptions, target?: PinnedTarget): Promise<FetchedCommit> {
  try {
    return await fetchOrThrow(url, commit, branch, workDir, opts, target);
  } catch (err) {
    if (err instanceof StratusError && err.code === 'GIT_FETCH_FAILED') {
      throw new StratusError('GIT_FETCH_FAILED', `could not fetch commit ${commit}: the repository could not be reached, refused the fetch or does not have the commit (what git said is in Stratus's log under this request's id)`, { field: 'repository' }, { cause: err });
    }
    throw err;
  }
}

async function fetchOrThrow(url: string, commit: string, branch: string, workDir: string, opts: GitFetchOptions, target?: PinnedTarget): Promise<FetchedCommit> {
  const repo = path.join(workDir, 'repo');
  const home = path.join(workDir, 'home');
  await fsp.mkdir(home, { recursive: true, mode: 0o700 });
  const scheme = new URL(url).protocol.slice(0, -1);
  if (target) await requireResolveSupport(opts.env.PATH);
  const env: Record<string, string> = {
    ...(target ? withoutProxies(opts.env) : opts.env),
    HOME: home,
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    SSH_ASKPASS: '',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    // A pinned http URL may be redirected to https; nothing else (submodules, alternates, ext::) is ever
    // reached, and a hook's URL is not redirected at all.
    GIT_ALLOW_PROTOCOL: scheme === 'http' && !target ? 'http:https' : scheme,
  };
  const deadline = Date.now() + opts.timeoutMs;
  const pin = target ? ['-c', 'http.followRedirects=false', ...(target.resolve ? ['-c', `http.curloptResolve=${target.resolve}`] : [])] : [];
  const git = (args: string[]) => runGit([...pin, ...args], env, deadline);
  try {
    await git(['init', '--quiet', repo]);
    try {
      await git(['-C', repo, 'fetch', '--quiet', '--no-tags', '--depth=1', '--end-of-options', url, commit]);
    } catch (err) {
      if (!(err instanceof GitFailure) || !NOT_BY_ID.test(err.output)) throw err;
      // An older server: the branch's tip is fetched instead, which is the commit unless a later push moved it.
      await git(['-C', repo, 'fetch', '--quiet', '--no-tags', '--depth=1', '--end-of-options', url, `refs/heads/${branch}`]);
      const tip = (await git(['-C', repo, 'rev-parse', '--verify', 'FETCH_HEAD^{commit}'])).trim();
      if (tip !== commit) {
        throw new StratusError('GIT_FETCH_FAILED', `${redactUrl(url)} did not give commit ${commit} by id (the server does not serve commits by id, or has no such commit), and ${branch} is at ${tip} now: a push that moved it builds its own commit`, { field: 'after' });
      }
    }
    await git(['-C', repo, '-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', commit]);
    const message = await git(['-C', repo, 'log', '-1', '--format=%B', commit]);
    return { dir: repo, message: firstLine(message) };
  } catch (err) {
    if (err instanceof GitFailure) {
      const lines = redactGitOutput(err.output, url).split('\n').map((l) => l.trim()).filter(Boolean);
      // git's own verdicts ("fatal: … does not appear to be a git repository") say more than its advice after them.
      const verdicts = lines.filter((l) => /^(fatal|error):/.test(l));
      const said = (verdicts.length > 0 ? verdicts.slice(0, 2) : lines.slice(-3)).join(' / ').slice(0, 500);
      const why = err.timedOut ? `it took longer than ${Math.round(opts.timeoutMs / 1000)} s` : said || 'git gave no reason';
      throw new StratusError('GIT_FETCH_FAILED', `could not fetch commit ${commit} from ${redactUrl(url)}: ${why}`, { field: 'repository' });
    }
    throw err;
  }
}

/** The proxy variables dropped: a hook's URL is fetched from the addresses checked, not by a proxy's lookup. */
function withoutProxies(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/_proxy$/i.test(k)));
}

async function requireResolveSupport(pathVar: string | undefined): Promise<void> {
  gitVersion ??= new Promise((resolve) => {
    execFile('git', ['version'], { env: { PATH: pathVar ?? '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C' } }, (err, out) => {
      const m = /(\d+)\.(\d+)/.exec(String(out));
      resolve(err || !m ? null : [Number(m[1]), Number(m[2])]);
    });
  });
  const v = await gitVersion;
  if (v === null) throw new StratusError('GIT_FETCH_FAILED', 'git is not installed on the Stratus host (Debian: apt-get install git)', { field: 'repository' });
  if (v[0] < RESOLVE_SINCE[0] || (v[0] === RESOLVE_SINCE[0] && v[1] < RESOLVE_SINCE[1])) {
    throw new StratusError('GIT_FETCH_FAILED', `git ${v.join('.')} cannot be held to the checked addresses (http.curloptResolve came with git ${RESOLVE_SINCE.join('.')}): a hook's clone URL is not fetched; upgrade git or pin git.repository`, { field: 'repository' });
  }
}

/** The first non-empty line, at most 200 characters. */
export function firstLine(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

function runGit(args: string[], env: Record<string, string>, deadline: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-MAX_OUTPUT);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, Math.max(0, deadline - Date.now()));
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT' ? new StratusError('GIT_FETCH_FAILED', 'git is not installed on the Stratus host (Debian: apt-get install git)', { field: 'repository' }) : err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && !timedOut) resolve(stdout);
      else reject(new GitFailure(stderr, timedOut));
    });
  });
}
