// A function's git settings (`git` in its config): which branch and sub-directory of a repository a push
// builds, the secret every push hook must prove, and optionally the one repository it may come from.
// Used by POST /v1/hooks/git/:name (gateway/api/routes/git-hooks.ts, services/git/).

import { z } from 'zod';

/** Schemes a pinned `repository` may use. ssh is left out: it would need keys and known_hosts on the Stratus host. */
export const PINNED_SCHEMES = ['https:', 'http:', 'git:', 'file:'] as const;

/**
 * A branch name as `git check-ref-format --branch` accepts it (the common rules: no control characters,
 * spaces or ~^:?*[\, no "..", "@{" or "//", not starting with "-" or "/", not ending with "/", "." or ".lock").
 */
export function branchProblem(name: string): string | null {
  if (hasControl(name) || /[ ~^:?*[\\]/.test(name)) return 'may not hold spaces, control characters or any of ~^:?*[\\';
  if (name.includes('..') || name.includes('@{') || name.includes('//')) return 'may not hold "..", "@{" or "//"';
  if (name.startsWith('-') || name.startsWith('/') || name.startsWith('.')) return 'may not start with "-", "/" or "."';
  if (name.endsWith('/') || name.endsWith('.') || name.endsWith('.lock')) return 'may not end with "/", "." or ".lock"';
  if (name.split('/').some((part) => part.startsWith('.'))) return 'no part of it may start with "."';
  return null;
}

/** Characters below U+0020 and DEL: no ref or path of a repository should hold them. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** "functions/hello/" → "functions/hello"; "" and "." → "" (the repository's root). */
export function normalizeDirectory(dir: string): string {
  return dir.replace(/^(\.\/)+/, '').replace(/\/+$/, '').replace(/^\.$/, '');
}

function directoryProblem(dir: string): string | null {
  if (dir === '') return null;
  if (dir.startsWith('/')) return 'must be relative to the repository root (no leading "/")';
  if (hasControl(dir) || dir.includes('\\')) return 'may not hold control characters or "\\"';
  for (const part of dir.split('/')) {
    if (part === '' || part === '.' || part === '..') return 'may not hold empty, "." or ".." parts';
    if (part.toLowerCase() === '.git') return 'may not name the .git folder';
  }
  return null;
}

/** Why a pinned repository URL is refused, or null. Credentials in it are allowed (private repositories). */
export function repositoryProblem(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be a URL: https://host/owner/repo.git, git://host/repo.git or file:///path/to/repo.git (ssh and scp-like "user@host:path" are not supported)';
  }
  if (!(PINNED_SCHEMES as readonly string[]).includes(url.protocol)) {
    return `the scheme ${JSON.stringify(url.protocol)} is not supported; use https://, http://, git:// or file:// (ssh would need keys on the Stratus host)`;
  }
  if (url.protocol === 'file:') {
    if (url.host !== '' && url.host !== 'localhost') return 'a file:// URL names a path on this host: file:///path/to/repo.git';
    if (url.search || url.hash) return 'a file:// URL takes no query or fragment';
  } else if (!url.hostname) {
    return 'must name a host';
  }
  if (url.pathname === '/' || url.pathname === '') return 'must name a repository path';
  return null;
}

export const gitSettingsSchema = z.strictObject({
  /** The branch whose pushes build; other branches' pushes are skipped. */
  branch: z
    .string()
    .min(1)
    .max(255)
    .transform((b) => b.replace(/^refs\/heads\//, ''))
    .superRefine((b, ctx) => {
      const problem = branchProblem(b);
      if (problem) ctx.addIssue({ code: 'custom', message: `is not a branch name: it ${problem}` });
    })
    .default('main'),
  /** The sub-directory holding the function ("" = the repository root); a push touching nothing under it is skipped. */
  directory: z
    .string()
    .max(1024)
    .transform(normalizeDirectory)
    .superRefine((d, ctx) => {
      const problem = directoryProblem(d);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default(''),
  /**
   * Every hook is authenticated with it: GitHub and Gitea sign the body with it (HMAC-SHA256), GitLab sends
   * it as X-Gitlab-Token. Printable ASCII, since GitLab sends it in a header.
   */
  secret: z
    .string({ error: 'give a secret of 16 to 512 characters: every push hook is authenticated with it' })
    .min(16, 'use at least 16 characters')
    .max(512)
    .regex(/^[!-~]+$/, 'use printable ASCII without spaces (GitLab sends it in a header)'),
  /**
   * The repository to fetch, whatever a hook names; an event about another repository is refused. Unset:
   * the http(s) clone URL the event names. Required for file:// URLs (services/git/repository.ts says why).
   */
  repository: z
    .string()
    .min(1)
    .max(2000)
    .superRefine((r, ctx) => {
      const problem = repositoryProblem(r);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});

export type GitSettings = z.output<typeof gitSettingsSchema>;
