// Real git servers on loopback for the git-push tests, from Debian's git: smart HTTP (`git http-backend`
// behind a small node server, as forges serve http(s) clone URLs) and `git daemon` (git://). Both accept
// pushes. A working repository helper commits and pushes with the real `git` client.

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

export interface GitServer {
  /** Base URL: `${url}/NAME.git` is the repository NAME.git under the root. */
  url: string;
  close(): Promise<void>;
}

/** Git with no system or user configuration of the machine running the tests. */
function gitEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
}

/** A bare repository NAME.git under root. */
export function createBareRepo(root: string, name: string): string {
  const dir = path.join(root, `${name}.git`);
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', dir], { env: gitEnv(root) });
  return dir;
}

/** Smart HTTP through `git http-backend` (CGI): fetch and push, REMOTE_USER set so that pushes are allowed. */
export async function startGitHttpServer(root: string): Promise<GitServer> {
  const children = new Set<ChildProcess>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const child = spawn('git', ['http-backend'], {
      env: {
        ...gitEnv(root), GIT_PROJECT_ROOT: root, GIT_HTTP_EXPORT_ALL: '1', REMOTE_USER: 'tester', REMOTE_ADDR: '127.0.0.1',
        REQUEST_METHOD: req.method ?? 'GET', PATH_INFO: decodeURIComponent(url.pathname), QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '', HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: req.headers['git-protocol'] ?? '', SERVER_PROTOCOL: 'HTTP/1.1',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    children.add(child);
    child.on('close', () => children.delete(child));
    req.pipe(child.stdin!);
    let head = Buffer.alloc(0);
    let started = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      if (started) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      started = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    child.on('close', () => (started ? res.end() : res.writeHead(500).end()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const c of children) c.kill('SIGKILL');
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `git daemon` serving every repository under root (git://), pushes enabled. */
export async function startGitDaemon(root: string): Promise<GitServer> {
  const port = await freePort();
  const daemon = spawn('git', ['daemon', '--export-all', `--base-path=${root}`, '--enable=receive-pack', '--listen=127.0.0.1', `--port=${port}`, '--reuseaddr', root], {
    env: gitEnv(root),
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => daemon.on('exit', () => resolve()));
  for (let i = 0; !(await accepts(port)); i++) {
    if (i > 100 || daemon.exitCode !== null) throw new Error(`git daemon did not listen on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `git://127.0.0.1:${port}`,
    close: async () => {
      daemon.kill('SIGTERM');
      await exited;
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** A working repository: write files, commit, push — with the real git client. */
export class WorkRepo {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.git('init', '--quiet', '--initial-branch=main');
  }

  git(...args: string[]): string {
    return execFileSync('git', ['-c', 'user.name=Ada Lovelace', '-c', 'user.email=ada@example.test', ...args], { cwd: this.dir, env: gitEnv(this.dir), encoding: 'utf8' }).trim();
  }

  write(files: Record<string, string>): this {
    for (const [name, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(this.dir, name)), { recursive: true });
      fs.writeFileSync(path.join(this.dir, name), content);
    }
    return this;
  }

  /** Commits everything and returns the new commit's id. */
  commit(message: string): string {
    this.git('add', '--all');
    this.git('commit', '--quiet', '-m', message);
    return this.git('rev-parse', 'HEAD');
  }

  /** Pushes HEAD to `branch` of `url` (a real `git push`; asynchronous, the server may run in this process). */
  async push(url: string, branch = 'main'): Promise<void> {
    await promisify(execFile)('git', ['push', '--quiet', url, `HEAD:refs/heads/${branch}`], { cwd: this.dir, env: gitEnv(this.dir) });
  }
}
