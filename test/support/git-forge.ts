// Push hooks as the forges send them: GitHub's (compact JSON, X-GitHub-*, X-Hub-Signature[-256], User-Agent
// GitHub-Hookshot/…), GitLab's (X-Gitlab-Event "Push Hook", X-Gitlab-Token, its project/repository blocks)
// and Gitea's (indented JSON — Go's MarshalIndent —, X-Gitea-* and, for compatibility, GitHub's and Gogs's
// headers too). Field order and shapes follow the forges' documented payloads; the values are the test's.
// The body is the exact bytes sent and signed.

import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';

export interface PushFacts {
  /** e.g. "refs/heads/main" */
  ref: string;
  before: string;
  after: string;
  message: string;
  /** Paths changed by the pushed commit. */
  added?: string[];
  modified?: string[];
  removed?: string[];
  /** The repository's http(s) clone URL, as the forge would name it. */
  cloneUrl: string;
  /** owner/name */
  fullName: string;
}

export interface HookRequest {
  headers: Array<[string, string]>;
  body: Buffer;
}

const ZERO = '0000000000000000000000000000000000000000';
const hex = (key: string, body: Buffer, algo: 'sha1' | 'sha256') => createHmac(algo, key).update(body).digest('hex');
const host = (url: string) => new URL(url).host;
const webUrl = (p: PushFacts) => p.cloneUrl.replace(/\.git$/, '');
const when = '2026-05-04T10:21:07+02:00';
const user = { name: 'Ada Lovelace', email: 'ada@example.test', username: 'ada' };

function commitOf(p: PushFacts, forge: 'github' | 'gitea'): Record<string, unknown> {
  const base = { id: p.after, ...(forge === 'github' ? { tree_id: 'f'.repeat(40), distinct: true } : {}), message: `${p.message}\n`, timestamp: when, url: `${webUrl(p)}/commit/${p.after}` };
  const lists = { added: p.added ?? [], removed: p.removed ?? [], modified: p.modified ?? [] };
  return forge === 'github'
    ? { ...base, author: user, committer: user, ...lists }
    : { id: p.after, message: `${p.message}\n`, url: base.url, author: user, committer: user, verification: null, timestamp: when, ...lists };
}

/** GitHub's push delivery, as its webhook docs ("Webhook events and payloads", push) describe it. */
export function githubPush(p: PushFacts, secret: string, event = 'push'): HookRequest {
  const [owner, name] = p.fullName.split('/') as [string, string];
  const commit = commitOf(p, 'github');
  const payload = {
    ref: p.ref, before: p.before, after: p.after,
    repository: {
      id: 812345678, node_id: 'R_kgDOMGxxxx', name, full_name: p.fullName, private: false,
      owner: { name: owner, email: null, login: owner, id: 1234567, node_id: 'MDQ6VXNlcjEyMzQ1Njc=', avatar_url: `https://avatars.example.test/u/1234567?v=4`, gravatar_id: '', url: `https://api.${host(p.cloneUrl)}/users/${owner}`, html_url: `https://${host(p.cloneUrl)}/${owner}`, type: 'User', user_view_type: 'public', site_admin: false },
      html_url: webUrl(p), description: null, fork: false, url: webUrl(p),
      created_at: 1746346800, updated_at: '2026-05-04T08:20:00Z', pushed_at: 1746346867,
      git_url: `git://${host(p.cloneUrl)}/${p.fullName}.git`, ssh_url: `git@${new URL(p.cloneUrl).hostname}:${p.fullName}.git`, clone_url: p.cloneUrl, svn_url: webUrl(p),
      homepage: null, size: 0, stargazers_count: 0, watchers_count: 0, language: 'JavaScript', has_issues: true, has_projects: true, has_downloads: true, has_wiki: true, has_pages: false, has_discussions: false,
      forks_count: 0, mirror_url: null, archived: false, disabled: false, open_issues_count: 0, license: null, allow_forking: true, is_template: false, web_commit_signoff_required: false,
      topics: [], visibility: 'public', forks: 0, open_issues: 0, watchers: 0, default_branch: 'main', stargazers: 0, master_branch: 'main',
    },
    pusher: { name: user.username, email: user.email },
    sender: { login: user.username, id: 7654321, node_id: 'MDQ6VXNlcjc2NTQzMjE=', avatar_url: 'https://avatars.example.test/u/7654321?v=4', gravatar_id: '', type: 'User', user_view_type: 'public', site_admin: false },
    created: p.before === ZERO, deleted: p.after === ZERO, forced: false, base_ref: null,
    compare: `${webUrl(p)}/compare/${p.before.slice(0, 12)}...${p.after.slice(0, 12)}`,
    commits: p.after === ZERO ? [] : [commit],
    head_commit: p.after === ZERO ? null : commit,
  };
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  return {
    headers: [
      ['Accept', '*/*'],
      ['Content-Type', 'application/json'],
      ['User-Agent', 'GitHub-Hookshot/8f2e5a1'],
      ['X-GitHub-Delivery', randomUUID()],
      ['X-GitHub-Event', event],
      ['X-GitHub-Hook-ID', '498123456'],
      ['X-GitHub-Hook-Installation-Target-ID', '812345678'],
      ['X-GitHub-Hook-Installation-Target-Type', 'repository'],
      ['X-Hub-Signature', `sha1=${hex(secret, body, 'sha1')}`],
      ['X-Hub-Signature-256', `sha256=${hex(secret, body, 'sha256')}`],
    ],
    body,
  };
}

/** GitLab's Push Hook, as its webhook docs ("Webhook events", push events) describe it. */
export function gitlabPush(p: PushFacts, token: string): HookRequest {
  const web = webUrl(p);
  const sshUrl = `git@${new URL(p.cloneUrl).hostname}:${p.fullName}.git`;
  const payload = {
    object_kind: 'push', event_name: 'push', before: p.before, after: p.after, ref: p.ref, ref_protected: true,
    checkout_sha: p.after === ZERO ? null : p.after, message: null,
    user_id: 4, user_name: user.name, user_username: user.username, user_email: '', user_avatar: 'https://gitlab.example.test/uploads/-/system/user/avatar/4/avatar.jpg',
    project_id: 15,
    project: {
      id: 15, name: p.fullName.split('/')[1], description: '', web_url: web, avatar_url: null, git_ssh_url: sshUrl, git_http_url: p.cloneUrl,
      namespace: p.fullName.split('/')[0], visibility_level: 0, path_with_namespace: p.fullName, default_branch: 'main', ci_config_path: null,
      homepage: web, url: sshUrl, ssh_url: sshUrl, http_url: p.cloneUrl,
    },
    commits: p.after === ZERO ? [] : [{
      id: p.after, message: `${p.message}\n`, title: p.message, timestamp: when, url: `${web}/-/commit/${p.after}`,
      author: { name: user.name, email: '[REDACTED]' }, added: p.added ?? [], modified: p.modified ?? [], removed: p.removed ?? [],
    }],
    total_commits_count: p.after === ZERO ? 0 : 1,
    push_options: {},
    repository: { name: p.fullName.split('/')[1], url: sshUrl, description: '', homepage: web, git_http_url: p.cloneUrl, git_ssh_url: sshUrl, visibility_level: 0 },
  };
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const uuid = randomUUID();
  return {
    headers: [
      ['Content-Type', 'application/json'],
      ['User-Agent', 'GitLab/17.11.1'],
      ['Idempotency-Key', uuid],
      ['X-Gitlab-Event', 'Push Hook'],
      ['X-Gitlab-Webhook-UUID', randomUUID()],
      ['X-Gitlab-Instance', `https://${host(p.cloneUrl)}`],
      ['X-Gitlab-Event-UUID', uuid],
      ['X-Gitlab-Token', token],
    ],
    body,
  };
}

/** Gitea's push delivery (services/webhook/deliver.go): the payload indented, every compatibility header. */
export function giteaPush(p: PushFacts, secret: string): HookRequest {
  const [owner, name] = p.fullName.split('/') as [string, string];
  const commit = commitOf(p, 'gitea');
  const giteaUser = { id: 1, login: owner, login_name: '', source_id: 0, full_name: '', email: `${owner}@noreply.example.test`, avatar_url: '', html_url: `${new URL(p.cloneUrl).origin}/${owner}`, language: '', is_admin: false, username: owner };
  const payload = {
    ref: p.ref, before: p.before, after: p.after, compare_url: `${webUrl(p)}/compare/${p.before}...${p.after}`,
    commits: [commit], total_commits: 1, head_commit: commit,
    repository: {
      id: 3, owner: giteaUser, name, full_name: p.fullName, description: '', empty: false, private: false, fork: false, template: false, parent: null, mirror: false, size: 24,
      html_url: webUrl(p), url: `${new URL(p.cloneUrl).origin}/api/v1/repos/${p.fullName}`, link: '', ssh_url: `git@${new URL(p.cloneUrl).hostname}:${p.fullName}.git`, clone_url: p.cloneUrl,
      original_url: '', website: '', stars_count: 0, forks_count: 0, watchers_count: 1, open_issues_count: 0, default_branch: 'main', archived: false,
      created_at: '2026-05-04T10:00:00+02:00', updated_at: '2026-05-04T10:21:07+02:00',
    },
    pusher: giteaUser,
    sender: giteaUser,
  };
  const body = Buffer.from(JSON.stringify(payload, null, '  '), 'utf8');
  const delivery = randomUUID();
  const sig = hex(secret, body, 'sha256');
  return {
    headers: [
      ['Content-Type', 'application/json'],
      ['User-Agent', 'Go-http-client/1.1'],
      ['X-Gitea-Delivery', delivery],
      ['X-Gitea-Event', 'push'],
      ['X-Gitea-Event-Type', 'push'],
      ['X-Gitea-Signature', sig],
      ['X-Gogs-Delivery', delivery],
      ['X-Gogs-Event', 'push'],
      ['X-Gogs-Event-Type', 'push'],
      ['X-Gogs-Signature', sig],
      ['X-Hub-Signature', `sha1=${hex(secret, body, 'sha1')}`],
      ['X-Hub-Signature-256', `sha256=${sig}`],
      ['X-GitHub-Delivery', delivery],
      ['X-GitHub-Event', 'push'],
      ['X-GitHub-Event-Type', 'push'],
    ],
    body,
  };
}

export interface HookAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** POSTs the hook as is (header names, their order and the body bytes untouched) and reads the JSON answer. */
export function postHook(url: string, hook: HookRequest): Promise<HookAnswer> {
  return new Promise((resolve, reject) => {
    // An object keeps the names' case and order on the wire (Node 20 sends no header given as a flat array).
    const headers = { ...Object.fromEntries(hook.headers), 'Content-Length': String(hook.body.length) };
    const req = http.request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> });
        } catch {
          reject(new Error(`not JSON (${res.statusCode}): ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    req.end(hook.body);
  });
}
