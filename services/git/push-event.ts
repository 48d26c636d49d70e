// A forge's push payload → the few facts a git build needs, the same for GitHub, GitLab and Gitea. The
// payload is read as hostile (it is only parsed once its signature checked out, but a forge's format
// changes and a leaked secret lets anyone post): every field used is type-checked and bounded, anything
// else is ignored, and a broken field is an INVALID_REQUEST naming it.
//
//   GitHub  ref, before, after, created, deleted, forced, commits[] (≤ 2048, each with added/removed/
//           modified), head_commit, repository.clone_url (https) / git_url / ssh_url / html_url
//   GitLab  object_kind "push", ref, before, after, checkout_sha, commits[] (the newest 20 at most),
//           total_commits_count, project.git_http_url / git_ssh_url / web_url, repository.*
//   Gitea   ref, before, after, commits[], total_commits, head_commit, repository.clone_url / ssh_url / html_url

import { z } from 'zod';
import { StratusError } from '../../core/errors.js';
import type { GitSettings } from '../../core/git-settings.js';
import type { Forge } from './signature.js';

export interface PushEvent {
  /** The pushed ref, e.g. "refs/heads/main" or "refs/tags/v1". */
  ref: string;
  before: string;
  /** The commit the ref points at after the push: the one to build. */
  after: string;
  created: boolean;
  deleted: boolean;
  /**
   * Every path the push changed, from the commits' added/modified/removed lists; null when the payload
   * cannot tell them all (a new branch, a forced push, a commit list the forge cut short): then it builds.
   */
  touched: string[] | null;
  /** The http(s) clone URL the event names (GitHub and Gitea clone_url, GitLab git_http_url), if any. */
  cloneUrl: string | null;
  /** Every URL the event names for its repository (clone, ssh, web): what a pinned repository is matched against. */
  names: string[];
}

/** Git's object ids: SHA-1 (40 hex digits) or SHA-256 (64). */
export const COMMIT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
export const isZeroId = (id: string) => /^0+$/.test(id);
/** GitHub cuts its commit list at 2048; a longer list is no forge's. */
const MAX_COMMITS = 4096;
const MAX_PATHS = 100_000;

const commitId = z.string().transform((s) => s.toLowerCase()).pipe(z.string().regex(COMMIT_ID, 'must be a commit id (40 or 64 hexadecimal digits)'));
const url = z.string().min(1).max(2000);
const pathList = z.array(z.string().max(4096)).max(MAX_PATHS);
const commit = z.object({
  id: commitId,
  added: pathList.optional(),
  removed: pathList.optional(),
  modified: pathList.optional(),
});
const base = {
  ref: z.string().min(1).max(1024).regex(/^refs\//, 'must be a full ref such as "refs/heads/main"'),
  before: commitId,
  after: commitId,
  commits: z.array(commit).max(MAX_COMMITS).nullish(),
};

const github = z.object({
  ...base,
  created: z.boolean().optional(),
  deleted: z.boolean().optional(),
  forced: z.boolean().optional(),
  repository: z.object({ clone_url: url, git_url: url.optional(), ssh_url: url.optional(), html_url: url.optional(), url: url.optional() }),
});
const gitlab = z.object({
  ...base,
  object_kind: z.literal('push', 'must be "push" (a tag push or another event builds nothing)'),
  total_commits_count: z.number().int().min(0).optional(),
  project: z.object({ git_http_url: url, git_ssh_url: url.optional(), web_url: url.optional(), http_url: url.optional(), ssh_url: url.optional() }),
  repository: z.object({ git_http_url: url.optional(), git_ssh_url: url.optional(), homepage: url.optional(), url: url.optional() }).optional(),
});
const gitea = z.object({
  ...base,
  total_commits: z.number().int().min(0).optional(),
  repository: z.object({ clone_url: url, ssh_url: url.optional(), html_url: url.optional() }),
});

/** Parses the JSON of a push (already authenticated) into a PushEvent, or throws INVALID_REQUEST naming the field. */
export function parsePushEvent(forge: Forge, payload: unknown): PushEvent {
  switch (forge) {
    case 'github': {
      const p = parse(github, payload, 'GitHub');
      const forced = p.forced === true;
      const created = p.created ?? isZeroId(p.before);
      return finish(p, { created, deleted: p.deleted ?? isZeroId(p.after), complete: !created && !forced && (p.commits?.length ?? 0) < 2048 }, p.repository.clone_url, p.repository);
    }
    case 'gitlab': {
      const p = parse(gitlab, payload, 'GitLab');
      const complete = p.total_commits_count !== undefined && p.total_commits_count === (p.commits?.length ?? -1);
      const names = { ...p.repository, ...p.project };
      return finish(p, { created: isZeroId(p.before), deleted: isZeroId(p.after), complete }, p.project.git_http_url, names);
    }
    case 'gitea': {
      const p = parse(gitea, payload, 'Gitea');
      const complete = p.total_commits === undefined || p.total_commits === (p.commits?.length ?? -1);
      return finish(p, { created: isZeroId(p.before), deleted: isZeroId(p.after), complete }, p.repository.clone_url, p.repository);
    }
  }
}

type Parsed = { ref: string; before: string; after: string; commits?: z.output<typeof commit>[] | null };

function finish(p: Parsed, facts: { created: boolean; deleted: boolean; complete: boolean }, cloneUrl: string, names: Record<string, string | undefined>): PushEvent {
  return {
    ref: p.ref,
    before: p.before,
    after: p.after,
    created: facts.created,
    deleted: facts.deleted,
    touched: facts.created || !facts.complete ? null : touchedPaths(p.commits ?? []),
    cloneUrl: httpUrl(cloneUrl),
    names: Object.values(names).filter((n): n is string => typeof n === 'string'),
  };
}

/** An http(s) URL as the WHATWG parser normalizes it (what git is given), or null for anything else. */
function httpUrl(raw: string): string | null {
  try {
    const url = new URL(raw);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname ? url.href : null;
  } catch {
    return null;
  }
}

/** The union of the commits' lists; null when a commit lacks them or the push names no commit. */
function touchedPaths(commits: z.output<typeof commit>[]): string[] | null {
  if (commits.length === 0) return null;
  const paths = new Set<string>();
  for (const c of commits) {
    if (!c.added || !c.removed || !c.modified) return null;
    for (const p of [...c.added, ...c.removed, ...c.modified]) {
      paths.add(p);
      if (paths.size > MAX_PATHS) return null;
    }
  }
  return [...paths];
}

function parse<T extends z.ZodType>(schema: T, payload: unknown, forge: string): z.output<T> {
  const result = schema.safeParse(payload);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = ['body', ...issue.path.map(String)].join('.');
  throw new StratusError('INVALID_REQUEST', `${field}: ${issue.message}; expected ${forge}'s push event`, { field });
}

/** Why this push builds nothing for a function with these settings, or null when it builds. */
export function skipReason(settings: GitSettings, event: PushEvent): string | null {
  const wanted = `refs/heads/${settings.branch}`;
  if (event.ref !== wanted) return `${event.ref} is not ${wanted}: this function builds ${settings.branch} only`;
  if (event.deleted) return `the push deleted ${settings.branch}; the function keeps serving its current version`;
  const dir = settings.directory;
  if (dir !== '' && event.touched !== null && !event.touched.some((p) => p === dir || p.startsWith(`${dir}/`))) {
    return `the push changed nothing under ${dir}/`;
  }
  return null;
}
