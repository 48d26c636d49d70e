// The pieces of a git push hook that need no server: the forges' signature checks over raw bytes, their
// payloads read as hostile input, the branch/deletion/directory filter, the choice of repository and the
// redaction of credentials, and the git settings' validation.

import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseFunctionConfig } from '../../core/function-config.js';
import { gitSettingsSchema, type GitSettings } from '../../core/git-settings.js';
import { isStratusError } from '../../core/errors.js';
import { parsePushEvent, skipReason, type PushEvent } from '../../services/git/push-event.js';
import { redactGitOutput, repositoryKey, repositoryToFetch } from '../../services/git/repository.js';
import { checkCredential, hookSender, signatureFor } from '../../services/git/signature.js';
import { giteaPush, githubPush, gitlabPush, type HookRequest, type PushFacts } from '../support/git-forge.js';

const SECRET = 'hook-secret-0123456789';
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const facts: PushFacts = { ref: 'refs/heads/main', before: A, after: B, message: 'Grüße ✓ first', modified: ['fn/index.js'], cloneUrl: 'https://forge.test/ada/app.git', fullName: 'ada/app' };
const headersOf = (hook: HookRequest) => Object.fromEntries(hook.headers.map(([k, v]) => [k.toLowerCase(), v]));
const settings = (over: Partial<GitSettings> = {}): GitSettings => gitSettingsSchema.parse({ secret: SECRET, ...over });

function refusal(fn: () => unknown): { code: string; field: unknown; message: string } {
  try {
    fn();
  } catch (err) {
    if (isStratusError(err)) return { code: err.code, field: err.details.field, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('git hook signatures', () => {
  it.each([
    ['github', githubPush(facts, SECRET)],
    ['gitlab', gitlabPush(facts, SECRET)],
    ['gitea', giteaPush(facts, SECRET)],
  ] as const)('%s: the forge is told by its headers and its credential proves the secret over the raw bytes', (forge, hook) => {
    const headers = headersOf(hook);
    expect(hookSender(headers)).toMatchObject({ forge });
    expect(checkCredential(forge, headers, hook.body, SECRET)).toBe('ok');
    expect(checkCredential(forge, headers, hook.body, `${SECRET}-other`)).toBe('wrong');
  });

  it('Gitea, which also sends GitHub\'s headers, is taken for Gitea; its signature has no prefix', () => {
    const hook = giteaPush(facts, SECRET);
    const headers = headersOf(hook);
    expect(headers['x-github-event']).toBe('push');
    expect(hookSender(headers)?.forge).toBe('gitea');
    expect(headers['x-gitea-signature']).toBe(signatureFor('gitea', SECRET, hook.body));
  });

  it('a body changed by one byte (the same JSON re-serialized, a flipped bit) no longer verifies', () => {
    const hook = githubPush(facts, SECRET);
    const headers = headersOf(hook);
    const reserialized = Buffer.from(JSON.stringify(JSON.parse(hook.body.toString('utf8')), null, 1));
    expect(checkCredential('github', headers, reserialized, SECRET)).toBe('wrong');
    const flipped = Buffer.from(hook.body);
    flipped[flipped.length - 2] ^= 1;
    expect(checkCredential('github', headers, flipped, SECRET)).toBe('wrong');
  });

  it('refuses missing, malformed, truncated, repeated and foreign-scheme signatures', () => {
    const body = Buffer.from('{}');
    const good = createHmac('sha256', SECRET).update(body).digest('hex');
    const sig = (value: string | string[] | undefined) => checkCredential('github', { 'x-hub-signature-256': value } as never, body, SECRET);
    expect(sig(undefined)).toBe('missing');
    expect(sig('')).toBe('missing');
    expect(sig(['sha256=' + good, 'sha256=' + good])).toBe('missing');
    expect(sig(good)).toBe('wrong'); // GitHub's needs the prefix
    expect(sig('sha1=' + good)).toBe('wrong');
    expect(sig('sha256=' + good.slice(0, 63))).toBe('wrong');
    expect(sig('sha256=' + good + '00')).toBe('wrong');
    expect(sig('sha256=' + 'z'.repeat(64))).toBe('wrong');
    expect(sig('sha256=' + good)).toBe('ok');
    expect(sig('sha256=' + good.toUpperCase())).toBe('ok');
    expect(checkCredential('gitlab', { 'x-gitlab-token': SECRET.slice(0, -1) }, body, SECRET)).toBe('wrong');
    expect(checkCredential('gitlab', { 'x-gitlab-token': 'x'.repeat(5000) }, body, SECRET)).toBe('missing');
    expect(checkCredential('gitea', { 'x-gitea-signature': `sha256=${good}` }, body, SECRET)).toBe('wrong');
  });

  it('a request naming no forge, or with a non-printable event header, has no sender', () => {
    expect(hookSender({})).toBeNull();
    expect(hookSender({ 'x-github-event': 'pu\u0000sh' })).toBeNull();
    expect(hookSender({ 'x-gitlab-event': 'Push Hook' })).toMatchObject({ forge: 'gitlab', event: 'Push Hook' });
  });
});

describe('git push payloads', () => {
  const parse = (forge: 'github' | 'gitlab' | 'gitea', hook: HookRequest) => parsePushEvent(forge, JSON.parse(hook.body.toString('utf8')));

  it.each([
    ['github', githubPush(facts, SECRET)],
    ['gitlab', gitlabPush(facts, SECRET)],
    ['gitea', giteaPush(facts, SECRET)],
  ] as const)('%s: ref, commit, changed paths and the clone URL', (forge, hook) => {
    const event = parse(forge, hook);
    expect(event).toMatchObject({ ref: 'refs/heads/main', before: A, after: B, created: false, deleted: false, touched: ['fn/index.js'], cloneUrl: facts.cloneUrl });
    expect(event.names).toContain(facts.cloneUrl);
  });

  it('a new branch, a forced push or a commit list the forge cut short leaves the paths unknown (it builds)', () => {
    expect(parse('github', githubPush({ ...facts, before: '0'.repeat(40) }, SECRET))).toMatchObject({ created: true, touched: null });
    const forced = JSON.parse(githubPush(facts, SECRET).body.toString('utf8'));
    expect(parsePushEvent('github', { ...forced, forced: true }).touched).toBeNull();
    const gitlab = JSON.parse(gitlabPush(facts, SECRET).body.toString('utf8'));
    expect(parsePushEvent('gitlab', { ...gitlab, total_commits_count: 25 }).touched).toBeNull();
    const gitea = JSON.parse(giteaPush(facts, SECRET).body.toString('utf8'));
    expect(parsePushEvent('gitea', { ...gitea, total_commits: 2 }).touched).toBeNull();
    const noLists = JSON.parse(githubPush(facts, SECRET).body.toString('utf8'));
    delete noLists.commits[0].modified;
    expect(parsePushEvent('github', noLists).touched).toBeNull();
  });

  it('hostile payloads: missing fields, wrong types, bad ids, oversized lists are INVALID_REQUEST naming the field', () => {
    const good = JSON.parse(githubPush(facts, SECRET).body.toString('utf8'));
    const cases: Array<[unknown, string]> = [
      [null, 'body'],
      ['push', 'body'],
      [[good], 'body'],
      [{ ...good, after: undefined }, 'body.after'],
      [{ ...good, after: 12 }, 'body.after'],
      [{ ...good, after: 'HEAD' }, 'body.after'],
      [{ ...good, after: `${B}; rm -rf /` }, 'body.after'],
      [{ ...good, after: `--upload-pack=touch /tmp/x` }, 'body.after'],
      [{ ...good, ref: ['refs/heads/main'] }, 'body.ref'],
      [{ ...good, ref: 'main' }, 'body.ref'],
      [{ ...good, ref: `refs/${'x'.repeat(2000)}` }, 'body.ref'],
      [{ ...good, repository: undefined }, 'body.repository'],
      [{ ...good, repository: { clone_url: { href: 'x' } } }, 'body.repository.clone_url'],
      [{ ...good, commits: 'all' }, 'body.commits'],
      [{ ...good, commits: [{ id: B, added: 'index.js' }] }, 'body.commits.0.added'],
      [{ ...good, commits: Array.from({ length: 5000 }, () => ({ id: B })) }, 'body.commits'],
      [{ ...good, forced: 'yes' }, 'body.forced'],
    ];
    for (const [payload, field] of cases) {
      const r = refusal(() => parsePushEvent('github', payload));
      expect([r.code, r.field], JSON.stringify(payload)?.slice(0, 80)).toEqual(['INVALID_REQUEST', field]);
    }
    const gitlab = JSON.parse(gitlabPush(facts, SECRET).body.toString('utf8'));
    expect(refusal(() => parsePushEvent('gitlab', { ...gitlab, object_kind: 'tag_push' })).field).toBe('body.object_kind');
    expect(refusal(() => parsePushEvent('gitlab', { ...gitlab, total_commits_count: -1 })).field).toBe('body.total_commits_count');
  });

  it('a clone URL that is not http(s) is not taken from the event (file://, ssh, git://)', () => {
    for (const cloneUrl of ['file:///srv/git/secret.git', 'ssh://git@forge.test/ada/app.git', 'git://forge.test/ada/app.git', 'ext::sh -c touch% /tmp/pwned']) {
      const hook = JSON.parse(githubPush(facts, SECRET).body.toString('utf8'));
      hook.repository.clone_url = cloneUrl;
      expect(parsePushEvent('github', hook).cloneUrl).toBeNull();
    }
  });
});

describe('which pushes build', () => {
  const event = (over: Partial<PushEvent> = {}): PushEvent => ({ ref: 'refs/heads/main', before: A, after: B, created: false, deleted: false, touched: ['fn/index.js'], cloneUrl: facts.cloneUrl, names: [facts.cloneUrl], ...over });

  it('another branch, a tag, a deletion and a push outside the directory are skipped with a reason', () => {
    expect(skipReason(settings({ directory: 'fn' }), event())).toBeNull();
    expect(skipReason(settings(), event({ ref: 'refs/heads/dev' }))).toMatch(/refs\/heads\/dev is not refs\/heads\/main/);
    expect(skipReason(settings(), event({ ref: 'refs/tags/v1' }))).toMatch(/is not refs\/heads\/main/);
    expect(skipReason(settings(), event({ deleted: true, after: '0'.repeat(40) }))).toMatch(/deleted main/);
    expect(skipReason(settings({ directory: 'other' }), event())).toMatch(/nothing under other\//);
    expect(skipReason(settings({ directory: 'fn/index' }), event())).toMatch(/nothing under fn\/index\//); // a prefix is not a folder
    expect(skipReason(settings({ directory: 'other' }), event({ touched: null }))).toBeNull(); // unknown: build
    expect(skipReason(settings({ directory: 'fn' }), event({ touched: ['fn'] }))).toBeNull(); // the folder itself (a submodule, a rename)
  });

  it('the repository: the event\'s https URL, or the pinned one when the event names it, else refused', () => {
    expect(repositoryToFetch(settings(), event())).toBe(facts.cloneUrl);
    const pinned = 'https://x-access-token:ghs_abcdefghij@forge.test/Ada/App';
    expect(repositoryToFetch(settings({ repository: pinned }), event({ names: ['git@forge.test:ada/app.git'] }))).toBe(pinned);
    const other = refusal(() => repositoryToFetch(settings({ repository: pinned }), event({ names: ['https://forge.test/eve/app.git'] })));
    expect(other.code).toBe('GIT_REPOSITORY_REFUSED');
    expect(other.message).not.toContain('ghs_abcdefghij');
    expect(refusal(() => repositoryToFetch(settings(), event({ cloneUrl: null }))).code).toBe('GIT_REPOSITORY_REFUSED');
    expect(repositoryKey('https://forge.test:8443/ada/app.git/')).toBe(repositoryKey('git://FORGE.test/ada/app'));
    expect(repositoryKey('file:///srv/Repo.git')).not.toBe(repositoryKey('file:///srv/repo.git'));
  });

  it('git output loses every credential of the URL', () => {
    const url = 'https://ada:s3cr%40t-pass@forge.test/ada/app.git';
    const said = `fatal: unable to access '${url}': 403; retried https://ada:s3cr@t-pass@forge.test/ and https://tok3n-abcdef@other.test/x`;
    const redacted = redactGitOutput(said, url);
    expect(redacted).not.toMatch(/s3cr|tok3n/);
    expect(redacted).toContain('forge.test/ada/app.git');
  });
});

describe('git settings in the function config', () => {
  const config = (git: unknown) => parseFunctionConfig({ name: 'hello', runtime: 'node', git });

  it('defaults the branch to main and the directory to the root; normalizes both', () => {
    expect(config({ secret: SECRET }).git).toEqual({ branch: 'main', directory: '', secret: SECRET });
    expect(config({ secret: SECRET, branch: 'refs/heads/release/2.x', directory: './functions/hello/' }).git).toMatchObject({ branch: 'release/2.x', directory: 'functions/hello' });
  });

  it.each([
    [{}, 'config.git.secret', /16 to 512/],
    [{ secret: 'short' }, 'config.git.secret', /at least 16/],
    [{ secret: 'has spaces in it, sixteen+' }, 'config.git.secret', /printable ASCII/],
    [{ secret: SECRET, branch: 'feature..x' }, 'config.git.branch', /not a branch name/],
    [{ secret: SECRET, branch: '-delete' }, 'config.git.branch', /not a branch name/],
    [{ secret: SECRET, branch: 'a b' }, 'config.git.branch', /not a branch name/],
    [{ secret: SECRET, directory: '../etc' }, 'config.git.directory', /"\.\."/],
    [{ secret: SECRET, directory: '/abs' }, 'config.git.directory', /relative/],
    [{ secret: SECRET, directory: 'a/.git/hooks' }, 'config.git.directory', /\.git/],
    [{ secret: SECRET, repository: 'git@forge.test:ada/app.git' }, 'config.git.repository', /ssh/],
    [{ secret: SECRET, repository: 'ssh://git@forge.test/ada/app.git' }, 'config.git.repository', /not supported/],
    [{ secret: SECRET, repository: 'ext::sh -c id' }, 'config.git.repository', /not supported|must be a URL/],
    [{ secret: SECRET, repository: 'file://otherhost/srv/x.git' }, 'config.git.repository', /this host/],
    [{ secret: SECRET, extra: 1 }, 'config.git', /unrecognized|Unrecognized/],
  ])('refuses %j', (git, field, message) => {
    const r = refusal(() => config(git));
    expect(r.code).toBe('INVALID_CONFIG');
    expect(r.field).toBe(field);
    expect(r.message).toMatch(message);
  });

  it('a function running its own image takes no git settings', () => {
    const r = refusal(() => parseFunctionConfig({ name: 'img', image: 'nginx', git: { secret: SECRET } }));
    expect(r.field).toBe('config.git');
  });
});
