// Text the CLI did not write never drives the terminal. First the sanitiser itself; then every command,
// run against a hostile API on loopback whose every string carries escape sequences (OSC 8 links, OSC 52
// clipboard writes, screen clears, C1 CSI, BEL, backspace, a carriage return mid-line, BiDi overrides,
// newlines that would fake a line of the CLI's own): the output holds no control character but newline
// and tab, in a pipe and on a terminal with colour (where only the CLI's own colours are escapes), and
// the hostile text is shown escaped rather than dropped. The commands that end in an error, and a deploy
// followed over the build log's event stream, run as the real CLI process does.

import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../../cli/context.js';
import { buildProgram } from '../../cli/program.js';
import { hasControls, jsonText, safeCell, safeLine, safeText } from '../../cli/terminal-text.js';
import { Ui, type Stream } from '../../cli/ui.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = pathToFileURL(path.join(REPO, 'node_modules/tsx/dist/loader.mjs')).href;

/** What a hostile function can get into any string Stratus hands the CLI. */
const H = [
  'A\x1b]8;;http://evil.invalid/\x07click\x1b]8;;\x07',
  '\x1b[2J\x1b[H',
  '\x1b]0;title\x07',
  '\x1b]52;c;SGVsbG8=\x07',
  '\x9b31m',
  '\u009d8;;x\u009c',
  'bell\x07',
  'back\b\b',
  'over\rwrite',
  '\u202egnp.exe',
  'del\x7f',
  '\nFAKE ✓ line',
  '\tZ',
].join('');

/** Any control character but newline and tab; the BiDi overrides and isolates. */
// eslint-disable-next-line no-control-regex -- control characters are what the test looks for
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

describe('terminal text', () => {
  it('shows every control character escaped, keeping tab, and newlines only where text is several lines', () => {
    expect(safeLine('a\x1b[2Jb')).toBe('a\\x1b[2Jb');
    expect(safeLine('\x1b]8;;http://x.invalid\x07t\x1b]8;;\x07')).toBe('\\x1b]8;;http://x.invalid\\x07t\\x1b]8;;\\x07');
    expect(safeLine('\x9b2J \x9d0;t\x9c')).toBe('\\x9b2J \\x9d0;t\\x9c');
    expect(safeLine('ab\b\bX')).toBe('ab\\b\\bX');
    expect(safeLine('secret\rpublic')).toBe('secret\\rpublic');
    expect(safeLine('one\ntwo')).toBe('one\\ntwo');
    expect(safeLine('x\u202ey\u2066z\u200f')).toBe('x\\u{202e}y\\u{2066}z\\u{200f}');
    expect(safeLine('\x00\x7f')).toBe('\\x00\\x7f');
    expect(safeLine('tab\there')).toBe('tab\there');
    expect(safeLine('crlf end\r\r')).toBe('crlf end');
    expect(safeLine('plain ✓ ünïcode 日本')).toBe('plain ✓ ünïcode 日本');
    expect(safeText('a\r\nb\x1b[Kc\n\td\r')).toBe('a\nb\\x1b[Kc\n\td');
    expect(safeCell('a\tb\nc')).toBe('a\\tb\\nc');
    expect(hasControls('ok\r\nfine\n')).toBe(false);
    expect(hasControls('bad\x1b[2J')).toBe(true);
    expect(UNSAFE.test(safeText(H))).toBe(false);
  });

  it('writes JSON whose controls are all escapes, for the same value', () => {
    const value = { message: H, nested: [{ s: '\x9b\u202e\x7f' }], n: 1 };
    const text = jsonText(value, 2);
    expect(UNSAFE.test(text.replace(/\n/g, ''))).toBe(false);
    expect(JSON.parse(text)).toEqual(value);
    expect(jsonText(undefined)).toBe('null');
  });
});

// ---- a hostile API ----

const now = new Date().toISOString();
const fnView = {
  name: H, runtime: H, status: 'failing', currentVersion: 1, latestVersion: 2, url: H, updatedAt: now,
  config: { runtime: H, handler: H, memoryMb: H, timeoutMs: H, minInstances: H, maxInstances: H, concurrency: H, env: { [H]: 'v' } },
  failing: { lastError: H, failures: H },
  aliases: { [H]: { versions: [{ version: 1, weight: 100 }] } },
  rollout: { alias: H, cause: H, state: H, reason: H, to: [{ version: 1 }], startedAt: now },
  versions: [{ version: 1, status: H, image: H, buildId: H, createdAt: now, aliases: [H], trigger: { type: H, commit: H } }],
};
const build = { id: H, function: H, version: 1, status: 'failed', failedStage: 'check', timings: { [H]: 5 }, error: H, image: H, createdAt: now, startedAt: now, finishedAt: now };
const problem = (res: http.ServerResponse, status: number) => {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', title: H, status, code: 'X_HOSTILE', detail: H, field: H }));
};

function route(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const p = url.pathname;
  const json = (body: unknown, status = 200) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const m = req.method;
  if (p.startsWith('/fn/err')) return problem(res, 500);
  if (p.startsWith('/fn/')) {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-note': 'a\x9bb' });
    return res.end(H);
  }
  if (p.startsWith('/v1/functions/missing')) return problem(res, 404);
  if (p === '/v1/functions' && m === 'GET') return json({ functions: [fnView] });
  if (p === '/v1/functions' && m === 'POST') return json({ name: H, version: 1, buildId: 'b-1', status: 'queued', links: { url: H }, triggers: [{ id: H, type: H, schedule: H }] }, 202);
  if (/^\/v1\/functions\/[^/]+$/.test(p)) return m === 'DELETE' ? (res.writeHead(204), res.end()) : json(fnView);
  if (p.endsWith('/versions')) return json({ versions: fnView.versions });
  if (p.endsWith('/logs') && p.startsWith('/v1/functions/')) return json({ logs: [{ time: H, function: H, version: 1, instance: H, requestId: H, level: 'error', stream: 'stderr', message: H }] });
  if (p.endsWith('/triggers')) {
    return json({ triggers: [{ id: H, type: 'cron', schedule: H, timezone: H, createdAt: now }, { id: H, type: 'storage', source: H, bucket: H, events: [H], filter: { prefix: H, suffix: H }, createdAt: now }, { id: H, type: H, createdAt: now }] });
  }
  if (p.endsWith('/keys') && m === 'GET') return json({ keys: [{ id: H, name: H, createdAt: now }] });
  if (p.endsWith('/keys') && m === 'POST') return json({ id: H, name: null, createdAt: now, key: H, header: H });
  if (p.endsWith('/aliases')) return json({ aliases: { [H]: [{ version: 1, weight: 100 }], b: { versions: [{ version: 1, weight: 50 }, { version: 2, weight: 50 }] } } });
  if (p.includes('/aliases/') || p.endsWith('/rollback')) return json({ name: H, alias: H, version: 1, previous: 2, rollout: { state: H, reason: H } });
  if (p.endsWith('/invocations')) return json({ id: 'inv-1', duplicate: false }, 202);
  if (p.startsWith('/v1/invocations/')) return json({ id: 'inv-1', status: 'succeeded', attempts: 1, result: { statusCode: 200, body: H }, error: null });
  if (/^\/v1\/builds\/[^/]+$/.test(p)) return json(build);
  if (p.endsWith('/report')) return json({ checks: [{ tool: H, status: 'failed', reason: H, problems: [{ file: H, line: 1, column: 2, rule: H, severity: 'error', message: H }] }, { tool: H, status: 'failed', reason: H, problems: [] }] });
  if (p.endsWith('/logs') && url.searchParams.get('follow') === '1') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const lines = [`[${H}] --- ${H}`, `[check] --- check`, `[check] ${H}`, `[check] \x1b]8;;http://evil.invalid\x07lint\x1b]8;;\x07 \x1b[2J`];
    for (const l of lines) res.write(`event: log\ndata: ${l.split('\n').join('\ndata: ')}\n\n`);
    return res.end('event: end\ndata: {}\n\n');
  }
  if (p.endsWith('/logs')) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    return res.end(`[check] ${H}\n`);
  }
  problem(res, 404);
}

class Capture implements Stream {
  text = '';
  constructor(readonly isTTY: boolean) {}
  write(t: string | Uint8Array): boolean {
    this.text += typeof t === 'string' ? t : Buffer.from(t).toString('utf8');
    return true;
  }
}

describe('every command against a hostile API', () => {
  let server: http.Server;
  let url: string;
  let home: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => route(req, res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-cli-hostile-'));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await fs.rm(home, { recursive: true, force: true });
  });

  /** One command in-process, as main.ts runs it, with stdout and stderr captured. */
  async function run(args: string[], tty: boolean): Promise<{ out: string; err: string; error: unknown }> {
    const out = new Capture(tty);
    const err = new Capture(tty);
    const env = { STRATUS_URL: url, STRATUS_API_KEY: 'k', TERM: 'xterm' };
    const ui = new Ui(out, err, env);
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    const ctx = createContext(ui, { env, cwd: home, home }, stdin);
    let error: unknown;
    try {
      await buildProgram(ctx, '0.0.0').parseAsync(['node', 'stratus', ...args]);
    } catch (e) {
      error = e;
    } finally {
      ui.stopSpinner();
    }
    return { out: out.text, err: err.text, error };
  }

  const commands = [
    ['ls'], ['get', 'f'], ['versions', 'f'], ['build', 'b-1'], ['build', 'b-1', '-f', '-v'], ['logs', 'f'], ['triggers', 'f'], ['keys', 'ls', 'f'],
    ['keys', 'create', 'f'], ['alias', 'ls', 'f'], ['alias', 'f', 'beta', '1'], ['rollback', 'f'], ['invoke', 'f', '--async', '--wait', '--data', '{}'],
    ['ls', '--json'], ['get', 'f', '--json'], ['logs', 'f', '--json'],
  ];

  it.each(commands)('%s … prints no control character in a pipe, and shows the hostile text escaped', async (...args: string[]) => {
    const { out, err } = await run(args, false);
    // The async result is the function's answer: a pipe gets it as it is (checked below with invoke).
    const checked = args.includes('--async') ? out.replace(`${H}\n`, '') : out;
    expect(UNSAFE.test(checked), JSON.stringify(checked)).toBe(false);
    expect(UNSAFE.test(err), JSON.stringify(err)).toBe(false);
    if (!args.includes('--async')) expect(out + err).toMatch(/\\x1b|\\u001b/);
  });

  it.each(commands)('%s … on a terminal with colour prints no escape but its own colours', async (...args: string[]) => {
    const { out, err } = await run(args, true);
    // eslint-disable-next-line no-control-regex -- the CLI's own colours and spinner line
    const own = /\x1b\[(?:0|1|2|31|32|36)m|\r\x1b\[K/g;
    for (const text of [out, err]) expect(UNSAFE.test(text.replace(own, '')), JSON.stringify(text)).toBe(false);
    expect(out + err).toMatch(/\\x1b|\\u001b/);
  });

  it('a hostile newline inside one log line or table cell does not start a line of its own', async () => {
    for (const args of [['logs', 'f'], ['ls'], ['get', 'f'], ['triggers', 'f'], ['build', 'b-1', '-f', '-v']]) {
      const { out, err } = await run(args, false);
      expect(`${out}\n${err}`, args.join(' ')).not.toMatch(/^FAKE/m);
    }
  });

  it('invoke gives a pipe the answer as it is, and a terminal the answer escaped with a note', async () => {
    const piped = await run(['invoke', 'f'], false);
    expect(piped.out).toBe(H);
    const shown = await run(['invoke', 'f', '-i'], true);
    expect(UNSAFE.test(shown.out)).toBe(false);
    expect(shown.out).toContain('x-note: a\\x9bb');
    expect(shown.out).toContain(safeText(H));
    expect(shown.err).toMatch(/terminal control characters, shown escaped/);
  });

  /** The real CLI process, whose main.ts prints errors. */
  function cli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, ['--import', TSX, path.join(REPO, 'cli/main.ts'), ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: home, STRATUS_URL: url, STRATUS_API_KEY: 'k' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  it('an error quoting a hostile problem detail, a function\'s error answer and a failed build are printed escaped', async () => {
    const dir = path.join(home, 'fn');
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'index.js'), 'export default () => 1;\n');
    for (const [args, code] of [[['get', 'missing'], 1], [['invoke', 'err'], 1], [['deploy', '--name', 'f', '--runtime', 'node'], 1]] as const) {
      const run = await cli([...args], dir);
      expect(run.code, run.stderr).toBe(code);
      expect(UNSAFE.test(run.stdout), JSON.stringify(run.stdout)).toBe(false);
      expect(UNSAFE.test(run.stderr), JSON.stringify(run.stderr)).toBe(false);
      expect(run.stderr).toMatch(/^error: .*\\x1b\]8;;http:\/\/evil\.invalid\/\\x07click/m);
      expect(run.stderr).not.toMatch(/^FAKE/m);
    }
  }, 60_000);
});
