// A signed push hook cannot make Stratus's git connect where the operator did not allow: the hook's route
// (gitHooksRouter, real git, a real git http-backend) against plain TCP listeners on loopback that count
// every connection. Each clone URL below is refused on the address it resolves to — however the URL spells
// it, whatever name resolves to it, wherever a redirect points, however DNS answers between the check and
// git's connection — and the hook's caller reads no git output, no address and no port.

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import type { Lookup } from '../../services/git/fetch-target.js';
import { problemMiddleware } from '../../gateway/http/problem.js';
import { gitHooksRouter } from '../../gateway/api/routes/git-hooks.js';
import { createGitService } from '../../services/git/index.js';
import { signatureFor } from '../../services/git/signature.js';
import { githubPush, postHook, type HookAnswer, type HookRequest } from '../support/git-forge.js';
import { createBareRepo, startGitHttpServer, WorkRepo, type GitServer } from '../support/git-server.js';
import { REQUEST_ID_HEADER } from '../../core/invocation-contract.js';

const SECRET = 'address-hook-secret-0123456789';
const ZERO = '0'.repeat(40);

/** A TCP listener that counts connections and answers nothing. */
interface Trap {
  host: string;
  port: number;
  connections: number;
  close(): Promise<void>;
}

async function trap(host: string): Promise<Trap> {
  const sockets = new Set<net.Socket>();
  const t = { host, port: 0, connections: 0, close: async () => {} };
  const server = net.createServer((s) => {
    t.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.destroy();
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  t.port = (server.address() as AddressInfo).port;
  t.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return t;
}

/** ::1 exists on this machine (a container may have IPv6 off): the [::1] case needs it. */
async function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer().once('error', () => resolve(false)).listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

interface Platform {
  hook(cloneUrl: string, after?: string): Promise<HookAnswer>;
  post(hook: HookRequest): Promise<HookAnswer>;
  deployed: string[];
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** The hook route alone, over a memory store and a service that records what it was handed. */
async function platform(tmp: string, env: Record<string, string>, lookup?: Lookup): Promise<Platform> {
  const store = new MemoryStore();
  const now = new Date().toISOString();
  await store.putFunction({ name: 'app', config: { name: 'app', runtime: 'node', git: { branch: 'main', directory: '', secret: SECRET } } as never, currentVersion: null, latestVersion: 1, createdAt: now, updatedAt: now });
  const deployed: string[] = [];
  const service = {
    deployUpload: async (_c: unknown, buildId: string) => {
      deployed.push(buildId);
      return { name: 'app', version: 2, buildId, status: 'queued' as const };
    },
  };
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ json: true, level: 'debug', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) });
  const config = loadConfig({ STRATUS_STATE_DIR: path.join(tmp, `state-${randomUUID()}`), ...env });
  const app = express()
    .use((_req, res, next) => {
      res.setHeader(REQUEST_ID_HEADER, randomUUID());
      next();
    })
    .use('/v1', gitHooksRouter({ git: createGitService({ deployer: service, store, config, logger, lookup, fetchTimeoutMs: 20_000 }), store, logger }))
    .use(problemMiddleware(logger));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/hooks/git/app`;
  return {
    hook: (cloneUrl, after = 'a'.repeat(40)) => postHook(url, githubPush({ ref: 'refs/heads/main', before: ZERO, after, message: 'm', cloneUrl, fullName: 'eve/app' }, SECRET)),
    post: (hook) => postHook(url, hook),
    deployed,
    logs,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** GitHub's push with any text as repository.clone_url (not a URL at all, too), signed as sent. */
function pushNaming(cloneUrl: string): HookRequest {
  const base = githubPush({ ref: 'refs/heads/main', before: ZERO, after: 'b'.repeat(40), message: 'm', cloneUrl: 'https://forge.example.test/eve/app.git', fullName: 'eve/app' }, SECRET);
  const payload = JSON.parse(base.body.toString('utf8')) as { repository: Record<string, unknown> };
  payload.repository.clone_url = cloneUrl;
  const body = Buffer.from(JSON.stringify(payload));
  return { body, headers: base.headers.map(([k, v]): [string, string] => [k, k === 'X-Hub-Signature-256' ? signatureFor('github', SECRET, body) : v]) };
}

/** The one answer every address refusal gets: nothing of the URL's host, address, port or git. */
function expectRefused(res: HookAnswer, why: string): void {
  expect([res.status, res.body.code], `${why}: ${JSON.stringify(res.body)}`).toEqual([403, 'GIT_REPOSITORY_REFUSED']);
  expect(String(res.body.detail)).toMatch(/public addresses only/);
}

describe('a hook\'s clone URL never reaches a refused address', () => {
  let tmp: string;
  let v4: Trap;
  let v4b: Trap;
  let v6: Trap | null;
  let git: GitServer;
  let commit: string;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-git-addr-'));
    v4 = await trap('127.0.0.1');
    v4b = await trap('127.0.0.2');
    v6 = (await hasIpv6Loopback()) ? await trap('::1') : null;
    createBareRepo(path.join(tmp, 'srv'), 'app');
    git = await startGitHttpServer(path.join(tmp, 'srv'));
    const repo = new WorkRepo(path.join(tmp, 'work'));
    commit = repo.write({ 'index.mjs': 'export default () => 1;\n' }).commit('one');
    await repo.push(`${git.url}/app.git`);
  });

  afterAll(async () => {
    await Promise.all([v4?.close(), v4b?.close(), v6?.close(), git?.close()]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses loopback however the URL spells it, and names that resolve to it (nothing connects)', async () => {
    const p = await platform(tmp, {});
    try {
      const P = v4.port;
      const spellings = [
        `http://127.0.0.1:${P}/app.git`, `http://localhost:${P}/app.git`, `http://LocalHost:${P}/app.git`, `http://localhost.:${P}/app.git`,
        `http://127.1:${P}/app.git`, `http://2130706433:${P}/app.git`, `http://0x7f.1:${P}/app.git`, `http://0x7f000001:${P}/app.git`,
        `http://0177.0.0.1:${P}/app.git`, `http://[::ffff:7f00:1]:${P}/app.git`, `http://[::ffff:127.0.0.1]:${P}/app.git`,
        `http://0.0.0.0:${P}/app.git`, `http://0:${P}/app.git`, `https://127.0.0.1:${P}/app.git`, `http://user:pw@127.0.0.1:${P}/app.git`,
        `http://127.0.0.2:${v4b.port}/app.git`,
      ];
      if (v6) spellings.push(`http://[::1]:${v6.port}/app.git`, `http://[0:0:0:0:0:0:0:1]:${v6.port}/app.git`, `http://localhost:${v6.port}/app.git`);
      for (const url of spellings) expectRefused(await p.hook(url), url);
      // Whatever else is inside: link-local (cloud metadata), private, CGNAT, ULA, multicast, NAT64 and 6to4 forms.
      for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://10.0.0.1/a.git', 'http://172.16.5.4/a.git', 'http://192.168.1.1/a.git', 'http://100.64.0.1/a.git',
        'http://[fc00::1]/a.git', 'http://[fd12:3456::1]/a.git', 'http://[fe80::1]/a.git', 'http://224.0.0.1/a.git', 'http://255.255.255.255/a.git',
        'http://[64:ff9b::7f00:1]/a.git', 'http://[2002:7f00:1::]/a.git', 'http://[::7f00:1]/a.git', 'http://[::]/a.git']) {
        expectRefused(await p.hook(url), url);
      }
      await new Promise((r) => setTimeout(r, 200));
      expect([v4.connections, v4b.connections, v6?.connections ?? 0]).toEqual([0, 0, 0]);
      expect(p.deployed).toEqual([]);
      // The reason is logged with the request's id, never answered.
      const refusal = p.logs.find((l) => l.msg === 'git push refused' && String(l.cause).includes('127.0.0.1'));
      expect(refusal?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await p.close();
    }
  });

  it('judges a name by every address a resolver gives, the same answer as a name that does not resolve', async () => {
    const names: Record<string, string[]> = {
      'loop.example.test': ['127.0.0.1'],
      'mixed.example.test': ['127.0.0.1', '127.0.0.2'], // one allowed below, one not: refused
      'mapped.example.test': ['::ffff:127.0.0.2'],
    };
    const lookup: Lookup = async (host) => {
      if (host === 'slow.example.test') return new Promise<string[]>(() => {}); // a name server that never answers
      const found = names[host];
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return found;
    };
    const p = await platform(tmp, { STRATUS_GIT_ALLOWED_NETWORKS: '127.0.0.1/32' }, lookup);
    try {
      const answers = [];
      for (const host of ['mixed.example.test', 'mapped.example.test', 'nowhere.example.test', 'slow.example.test']) {
        const res = await p.hook(`http://${host}:${v4b.port}/app.git`);
        expectRefused(res, host);
        answers.push(res.body.detail);
      }
      expect(new Set(answers).size).toBe(1);
      expect(v4b.connections).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('git connects to the address checked, not to its own lookup: a name only the injected resolver knows fetches', async () => {
    // DNS does not know *.invalid: git can only reach the server through the address Stratus pinned.
    const p = await platform(tmp, { STRATUS_GIT_ALLOWED_NETWORKS: '127.0.0.1/32' }, async (host) => (host === 'forge.stratus-pin.invalid' ? ['127.0.0.1'] : []));
    try {
      const res = await p.hook(`http://forge.stratus-pin.invalid:${new URL(git.url).port}/app.git`, commit);
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(p.deployed).toHaveLength(1);
    } finally {
      await p.close();
    }
  });

  it('a name that answers an allowed address to the hook and a refused one at fetch time (rebinding) is refused then', async () => {
    let calls = 0;
    const rebinding: Lookup = async () => (++calls === 1 ? ['127.0.0.1'] : ['127.0.0.2']);
    const p = await platform(tmp, { STRATUS_GIT_ALLOWED_NETWORKS: '127.0.0.1/32' }, rebinding);
    try {
      const res = await p.hook(`http://rebind.example.test:${v4b.port}/app.git`);
      expectRefused(res, 'rebinding');
      expect(calls).toBe(2); // checked for the answer, and again right before git would connect
      expect(v4b.connections).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('a redirect from an allowed server to a refused address is not followed, and git\'s words are not answered', async () => {
    let redirected = 0;
    const redirector = http.createServer((req, res) => {
      redirected++;
      res.writeHead(302, { location: `http://127.0.0.2:${v4b.port}${req.url ?? '/'}` }).end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    const p = await platform(tmp, { STRATUS_GIT_ALLOWED_NETWORKS: '127.0.0.1/32' });
    try {
      const res = await p.hook(`http://127.0.0.1:${(redirector.address() as AddressInfo).port}/app.git`);
      expect([res.status, res.body.code], JSON.stringify(res.body)).toEqual([502, 'GIT_FETCH_FAILED']);
      expect(redirected).toBeGreaterThan(0); // git did ask the allowed server
      expect(v4b.connections).toBe(0);
      expect(JSON.stringify(res.body)).not.toMatch(/redirect|127\.0\.0|fatal|unable|curl|\d{4,5}\/app/i);
      // git's words are in the log, with the request id.
      const failed = p.logs.find((l) => l.msg === 'git push failed');
      expect(String(failed?.cause)).toMatch(/302|redirect/i);
      expect(failed?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await p.close();
      redirector.closeAllConnections();
      await new Promise((resolve) => redirector.close(resolve));
    }
  });

  it('never takes a URL git would read as an option, a local path or another transport', async () => {
    const p = await platform(tmp, { STRATUS_GIT_ALLOWED_NETWORKS: '0.0.0.0/0,::/0' });
    const marker = path.join(tmp, 'ext-ran');
    try {
      for (const url of [`ext::sh -c touch% ${marker}`, `--upload-pack=touch ${marker}`, `-uhttp://127.0.0.1:${v4.port}/`, `file://${tmp}/srv/app.git`, `${tmp}/srv/app.git`,
        `fd::17`, `git://127.0.0.1:${v4.port}/app.git`, `ssh://git@127.0.0.1:${v4.port}/app.git`, `git@127.0.0.1:app.git`]) {
        const res = await p.post(pushNaming(url));
        expect([res.status, res.body.code], url).toEqual([403, 'GIT_REPOSITORY_REFUSED']);
      }
      expect(fs.existsSync(marker)).toBe(false);
      expect(v4.connections).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('control: with the operator allowing loopback, the same hook does reach the listener (the count is real)', async () => {
    const p = await platform(tmp, { STRATUS_GIT_ALLOWED_NETWORKS: '127.0.0.0/8' });
    try {
      const res = await p.hook(`http://127.0.0.2:${v4b.port}/app.git`);
      expect([res.status, res.body.code]).toEqual([502, 'GIT_FETCH_FAILED']);
      expect(v4b.connections).toBeGreaterThan(0);
      v4b.connections = 0;
    } finally {
      await p.close();
    }
  });
});
