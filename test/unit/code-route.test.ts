// The code route as the gateway mounts it (platform/boot/stem-code.ts → gateway/app.ts): served on the API's
// origin under /internal/code/ to a signed URL without the admin key, never on a function's own host (there
// every path is the function's).

import { createHash } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFunctionConfig } from '../../core/function-config.js';
import { systemClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { PROJECT_ROOT } from '../../core/paths.js';
import { stemCode, type StemCode } from '../../platform/boot/stem-code.js';
import request from 'supertest';
import { API_KEY, auth, startHarness, type Harness } from '../support/gateway-harness.js';

const HELLO = path.join(PROJECT_ROOT, 'test', 'fixtures', 'functions', 'node-hello');

describe('the code route on the gateway', () => {
  let h: Harness;
  let code: StemCode;
  let server: http.Server;
  let port = 0;
  const seen: string[] = [];
  const get = (host: string, p: string) => new Promise<{ status: number; type: string | undefined; body: Buffer }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });

  beforeAll(async () => {
    h = await startHarness({}, { codeRoute: (req, res) => code.route(req, res) });
    code = stemCode({ store: h.store, apiKey: API_KEY, artifacts: null, clock: systemClock, logger: silentLogger });
    h.instance.handle = (req, res) => {
      seen.push(req.url!);
      res.end('the function');
    };
    // A deployed function 'hello' (its host is served by the instance above), and the record of a version with code.
    const up = await request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name: 'hello', runtime: 'node' })).attach('code', Buffer.from('export default () => 1;\n'), 'index.mjs');
    await h.builder.succeed(up.body.buildId);
    await h.store.putVersion({ function: 'coded', version: 1, config: parseFunctionConfig({ name: 'coded', runtime: 'node' }), status: 'ready', image: null, artifactDir: HELLO, buildId: 'b1', createdAt: new Date().toISOString() });
    server = http.createServer(h.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await h.close();
  });

  it('answers a signed URL on the API origin, without the admin key', async () => {
    const { codeUrl, sha256 } = await code.urls('http://127.0.0.1').issue('coded', 1);
    const res = await get(`127.0.0.1:${port}`, new URL(codeUrl).pathname + new URL(codeUrl).search);
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/gzip');
    expect(createHash('sha256').update(res.body).digest('hex')).toBe(sha256);
    const unsigned = await get(`127.0.0.1:${port}`, '/internal/code/coded/1');
    expect(unsigned.status).toBe(401);
    expect(unsigned.type).toBe('application/problem+json');
  });

  it("leaves the path to the function on the function's own host", async () => {
    const { codeUrl } = await code.urls('http://x').issue('coded', 1);
    const p = new URL(codeUrl).pathname + new URL(codeUrl).search;
    const res = await get(`hello.fn.localhost:${port}`, p);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('the function');
    expect(seen).toContain(p);
  });
});
