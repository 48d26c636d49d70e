// Where a push is fetched from, and how its URL is shown.
//
// Without a pinned `git.repository`, the URL comes from the event: the http(s) clone URL (GitHub and
// Gitea `repository.clone_url`, GitLab `project.git_http_url`). Not the ssh URLs: they would need keys and
// known_hosts on the Stratus host, and would make Stratus present the host's ssh identity to whatever host
// an event names. Not GitHub's `git_url` (git://): GitHub no longer serves it. git:// and file:// are
// fetched only from a pinned repository — a file:// URL from an event would let anyone holding the hook's
// secret build (and then call, reading its files) any repository on the Stratus host.
//
// With a pinned repository, that URL is fetched whatever the event says, and an event whose repository is
// another one is refused: an organisation-wide hook (one secret for every repository of the organisation)
// cannot make a function build someone else's repository.

import { redactUrl } from '../../core/config.js';
import { StratusError } from '../../core/errors.js';
import type { GitSettings } from '../../core/git-settings.js';
import type { PushEvent } from './push-event.js';

/**
 * A repository URL reduced to what names the repository: host and path, lower case, without scheme,
 * port, credentials, trailing "/" or ".git" — so https://token@host/Owner/Repo.git, git://host/owner/repo
 * and scp-like git@host:owner/repo.git all name "host/owner/repo". A file:// URL keeps its exact path.
 */
export function repositoryKey(raw: string): string | null {
  const trimmed = raw.trim();
  const scp = /^[^@/:\s]+@([^:/\s]+):(?!\/)(.+)$/.exec(trimmed);
  if (scp) return `${scp[1]!.toLowerCase()}/${stripPath(scp[2]!).toLowerCase()}`;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return null;
  }
  if (url.protocol === 'file:') return `file://${stripPath(decodeURIComponent(url.pathname))}`;
  if (!url.hostname) return null;
  return `${url.hostname.toLowerCase()}/${stripPath(decodeURIComponent(url.pathname)).toLowerCase()}`;
}

function stripPath(p: string): string {
  return p.replace(/^\/+/, '').replace(/\/+$/, '').replace(/\.git$/i, '').replace(/\/+$/, '');
}

export function sameRepository(a: string, b: string): boolean {
  const ka = repositoryKey(a);
  return ka !== null && ka === repositoryKey(b);
}

/** The URL to fetch the pushed commit from, or GIT_REPOSITORY_REFUSED saying why none may be. */
export function repositoryToFetch(settings: GitSettings, event: PushEvent): string {
  const pinned = settings.repository;
  if (pinned !== undefined) {
    if (event.names.some((n) => sameRepository(n, pinned))) return pinned;
    const named = event.names[0] === undefined ? 'no repository' : redactUrl(event.names[0]);
    throw new StratusError('GIT_REPOSITORY_REFUSED', `this push is about ${named}, but the function builds only from its pinned repository ${redactUrl(pinned)} (git.repository)`, { field: 'repository' });
  }
  if (event.cloneUrl === null) {
    throw new StratusError(
      'GIT_REPOSITORY_REFUSED',
      'the event names no http(s) clone URL; git://, file:// and other URLs are fetched only from a repository pinned in the function\'s git.repository (a file:// URL from a hook could read any repository on this host)',
      { field: 'repository.clone_url' },
    );
  }
  return event.cloneUrl;
}

/**
 * Git's output with every credential hidden: the URL as given, any "scheme://user:password@" and the
 * password and user themselves wherever git printed them (decoded or not).
 */
export function redactGitOutput(text: string, url: string): string {
  let out = text;
  try {
    const u = new URL(url);
    // A token often travels as the user name (https://TOKEN@host/…); a short user name is no secret.
    for (const secret of [u.password, u.username.length >= 6 ? u.username : '']) {
      if (secret.length === 0) continue;
      for (const form of new Set([secret, safeDecode(secret)])) out = out.split(form).join('<credentials>');
    }
  } catch {
    // not a URL: the generic pattern below still applies
  }
  out = out.split(url).join(redactUrl(url));
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@'"]+@/gi, '$1<credentials>@');
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
