// The data plane against hostile callers and hostile instances (issue 7, findings 2 and 3), driven
// through the real gateway (createApp + proxy) with an instance that is a real HTTP server on a unix
// socket. Callers speak raw bytes over TCP so that framing can be forged; instances write raw bytes to
// their socket. A gateway crash throws in this process and fails the run.

import http from 'node:http';
import net from 'node:net';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { answerClientError } from '../../gateway/http/client-error.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Sends raw bytes to the gateway and collects everything it answers until it closes the connection. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (answer += c));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer within 10 s; got ${JSON.stringify(answer)}`)));
    socket.write(Buffer.from(bytes, 'latin1'));
  });
}

function parseAnswer(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(end + 4) };
}

const chunk = (s: string) => `${Buffer.byteLength(s, 'latin1').toString(16)}\r\n${s}\r\n`;

/** A request line and headers a caller hides in a body, hoping the instance reads it as a second request. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\nx-stratus-request-id: forged\r\nx-forwarded-for: 10.6.6.6\r\nx-stratus-deadline-ms: 9999999999999\r\n\r\n';

describe('data plane against hostile callers and instances', () => {
  let h: Harness;
  let server: http.Server;
  let port: number;
  let seen: Seen[];

  beforeEach(async () => {
    h = await startHarness();
    server = http.createServer(h.app);
    server.on('clientError', answerClientError(silentLogger));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    seen = [];
    h.instance.handle = (req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        res.end('ok');
      });
    };
    const up = await request(h.app).post('/v1/functions').set(auth)
      .field('config', JSON.stringify({ name: 'hello', runtime: 'node', timeoutMs: 500 }))
      .attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
    await h.builder.succeed(up.body.buildId);
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await h.close();
  });

  /** A well-formed call through the gateway: also a marker that everything sent before it was handled. */
  const healthyCall = async (path = '/after') => {
    const res = await fetch(`http://127.0.0.1:${port}/fn/hello${path}`);
    return { status: res.status, body: await res.text() };
  };

  describe('request framing (RFC 9112): every forwarded body is framed by the gateway', () => {
    it.each(['GET', 'DELETE', 'OPTIONS', 'HEAD'])('a chunked %s whose body carries a second request reaches the instance as one request with that body', async (method) => {
      const answer = parseAnswer(await rawExchange(port, `${method} /fn/hello/first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk(SMUGGLED)}0\r\n\r\n`));
      expect(answer.status).toBe(200);
      expect(await healthyCall()).toEqual({ status: 200, body: 'ok' });
      expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([`${method} /first`, 'GET /after']);
      expect(seen[0]!.body).toBe(SMUGGLED);
      expect(seen[0]!.headers['x-stratus-request-id']).not.toBe('forged');
    });

    it('a GET with a Content-Length body reaches the instance with exactly that body', async () => {
      const answer = parseAnswer(await rawExchange(port, `GET /fn/hello/first HTTP/1.1\r\nHost: x\r\nContent-Length: ${SMUGGLED.length}\r\nConnection: close\r\n\r\n${SMUGGLED}`));
      expect(answer.status).toBe(200);
      expect(await healthyCall()).toEqual({ status: 200, body: 'ok' });
      expect(seen.map((s) => s.url)).toEqual(['/first', '/after']);
      expect(seen[0]!.body).toBe(SMUGGLED);
    });

    it('accepts "chunked" in any case as the one transfer coding', async () => {
      const answer = parseAnswer(await rawExchange(port, `POST /fn/hello/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n${chunk('abc')}0\r\n\r\n`));
      expect(answer.status).toBe(200);
      expect(seen.map((s) => s.body)).toEqual(['abc']);
    });

    const refused: Array<[string, string]> = [
      ['Content-Length with Transfer-Encoding', `POST /fn/hello/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
      ['Transfer-Encoding with Content-Length (reversed)', `POST /fn/hello/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n${SMUGGLED}`],
      ['a transfer coding other than chunked', `POST /fn/hello/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n${SMUGGLED}`],
      ['a coding stacked before chunked', `POST /fn/hello/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${chunk('abc')}0\r\n\r\n`],
      ['an empty Transfer-Encoding', `POST /fn/hello/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\nContent-Length: 3\r\n\r\nabc`],
      ['an empty Transfer-Encoding alone', `POST /fn/hello/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n${SMUGGLED}`],
      ['chunked twice', `POST /fn/hello/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n${chunk('abc')}0\r\n\r\n`],
      ['Transfer-Encoding in HTTP/1.0', `POST /fn/hello/x HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk('abc')}0\r\n\r\n`],
      ['two Content-Lengths', `POST /fn/hello/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc`],
    ];
    it.each(refused)('refuses %s with 400 problem+json, closes the connection, and the instance sees nothing', async (_what, bytes) => {
      const answer = parseAnswer(await rawExchange(port, bytes));
      expect(answer.status).toBe(400);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.headers.connection).toBe('close');
      const problem = JSON.parse(answer.body) as { code: string; detail: string };
      expect(problem.code).toBe('INVALID_REQUEST');
      expect(problem.detail).toMatch(/Transfer-Encoding|Content-Length/);
      expect(await healthyCall()).toEqual({ status: 200, body: 'ok' });
      expect(seen.map((s) => s.url)).toEqual(['/after']);
    });

    it('answers any other malformed request with problem+json too', async () => {
      const answer = parseAnswer(await rawExchange(port, 'GET /fn/hello HTTP/1.1\r\nHost: x\r\nbad header: v\r\n\r\n'));
      expect(answer.status).toBe(400);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'INVALID_REQUEST' });
      const tooLarge = parseAnswer(await rawExchange(port, `GET /fn/hello HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`));
      expect(tooLarge.status).toBe(431);
      expect(JSON.parse(tooLarge.body)).toMatchObject({ code: 'REQUEST_HEADERS_TOO_LARGE' });
    });
  });

  describe('hostile instances: whatever an instance sends ends as a 502 or 504 for that call, never a crash', () => {
    /** Behaviours an instance can show on its raw socket, instead of an HTTP answer. */
    const hostile: Array<[string, number, string, (socket: net.Socket) => void]> = [
      ['status 000', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 000 X\r\ncontent-length: 0\r\n\r\n')],
      ['status 099', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 099 X\r\ncontent-length: 2\r\n\r\nhi')],
      ['status 600', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 600 X\r\ncontent-length: 0\r\n\r\n')],
      ['status 999', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 999 X\r\ncontent-length: 0\r\n\r\n')],
      ['status 101 without an upgrade', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 101 Switching Protocols\r\n\r\nraw bytes')],
      ['status 101 with an upgrade', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: evil\r\n\r\nraw bytes')],
      ['a four-digit status', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 2000 X\r\ncontent-length: 0\r\n\r\n')],
      ['a control byte in a header value', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 200 OK\r\nx-evil: a\x01b\r\ncontent-length: 0\r\n\r\n')],
      ['a NUL in a header value', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 200 OK\r\nx-evil: a\x00b\r\ncontent-length: 0\r\n\r\n')],
      ['a header name with a space', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 200 OK\r\nx evil: v\r\ncontent-length: 0\r\n\r\n')],
      ['a bare LF splitting a header', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 200 OK\r\nx-a: v\nset-cookie: forged\r\ncontent-length: 0\r\n\r\n')],
      ['a huge header', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(100_000)}\r\ncontent-length: 0\r\n\r\n`)],
      ['Content-Length with Transfer-Encoding', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n')],
      ['garbage instead of a status line', 502, 'FUNCTION_BAD_RESPONSE', (s) => s.write('garbage garbage\r\n\r\n')],
      ['an endless header section', 502, 'FUNCTION_BAD_RESPONSE', (s) => {
        s.write('HTTP/1.1 200 OK\r\n');
        const t = setInterval(() => s.write('x-more: and more and more\r\n'.repeat(50)), 1);
        s.on('close', () => clearInterval(t));
      }],
      ['a close before any byte', 502, 'FUNCTION_CRASHED', (s) => s.destroy()],
      ['nothing at all', 504, 'FUNCTION_TIMEOUT', () => {}],
      ['a status line trickled a byte at a time', 504, 'FUNCTION_TIMEOUT', (s) => {
        const line = 'HTTP/1.1 200 OK\r\nx-slow: ';
        let i = 0;
        const t = setInterval(() => s.write(i < line.length ? line[i++]! : 'a'), 20);
        s.on('close', () => clearInterval(t));
      }],
      ['endless informational answers', 504, 'FUNCTION_TIMEOUT', (s) => {
        const t = setInterval(() => s.write('HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n'), 5);
        s.on('close', () => clearInterval(t));
      }],
    ];

    it.each(hostile)('%s: that call gets %i %s, and the next call to a healthy instance gets 200', async (_what, status, code, behave) => {
      let hostileNow = true;
      h.instance.handle = (req, res) => {
        req.resume();
        if (hostileNow) {
          req.socket.on('error', () => {});
          behave(req.socket);
        } else res.end('healthy');
      };
      const res = await fetch(`http://127.0.0.1:${port}/fn/hello/hostile`);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect((await res.json()) as unknown).toMatchObject({ code });
      hostileNow = false;
      expect(await healthyCall()).toEqual({ status: 200, body: 'healthy' });
      // A broken answer makes the instance untrusted: its lease goes back as crashed (recycled).
      if (status === 502) await vi.waitFor(() => expect(h.scheduler.releases).toContain('crashed'));
    });

    it('a reset mid-body cuts the caller\'s response and the next call still gets 200', async () => {
      let hostileNow = true;
      h.instance.handle = (req, res) => {
        req.resume();
        if (!hostileNow) return void res.end('healthy');
        req.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
        setTimeout(() => req.socket.destroy(), 20);
      };
      await expect(fetch(`http://127.0.0.1:${port}/fn/hello/hostile`).then((r) => r.text())).rejects.toThrow();
      hostileNow = false;
      expect(await healthyCall()).toEqual({ status: 200, body: 'healthy' });
      await vi.waitFor(() => expect(h.scheduler.releases).toContain('crashed'));
    });

    it('a body trickled past the deadline is cut, and the next call still gets 200', async () => {
      let hostileNow = true;
      h.instance.handle = (req, res) => {
        req.resume();
        if (!hostileNow) return void res.end('healthy');
        res.writeHead(200, { 'content-type': 'text/plain' });
        const t = setInterval(() => res.write('.'), 20);
        res.on('close', () => clearInterval(t));
      };
      await expect(fetch(`http://127.0.0.1:${port}/fn/hello/hostile`).then((r) => r.text())).rejects.toThrow();
      hostileNow = false;
      expect(await healthyCall()).toEqual({ status: 200, body: 'healthy' });
    });
  });
});
