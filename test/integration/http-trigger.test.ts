// The function URL's http trigger end to end on real Docker, Redis and the registry: a function deployed
// with `auth: "key"` and CORS in its config refuses a call without a key, answers one with a key, and its
// handler never sees the key; a revoked key is refused as soon as the DELETE is answered (Redis store: the
// route is re-read before the API answers, not left to pub/sub); a CORS preflight is answered by the
// gateway although the function itself answers 500 to any OPTIONS.

import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing, REDIS_URL } from '../support/services.js';

const APP = 'https://app.example.com';
const HANDLER = `export default async (event) => {
  if (event.method === 'OPTIONS') throw new Error('this function does not do OPTIONS');
  return { headers: event.headers };
};`;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('http trigger: invoke keys and CORS (Docker, Redis, registry)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  const name = `http-key-${Date.now().toString(36)}`;
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
  const call = (method: string, headers: Record<string, string>) =>
    new Promise<Answer>((resolve, reject) => {
      const req = http.request(`${platform.url}/fn/${name}/`, { method, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-http-trigger-'));
    platform = await startPlatform(e2eConfig(stateDir), silentLogger);
    const triggers = [{ type: 'http', auth: 'key', cors: { allowOrigins: [APP], allowMethods: ['GET', 'POST'], allowHeaders: ['content-type'] } }];
    const res = await deployFunction(platform, { name, runtime: 'node', triggers }, { file: 'index.mjs', content: HANDLER });
    expect(res.status).toBe(202);
    const build = await waitForBuild(platform, (await res.json()).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
  }, 600_000);

  afterAll(async () => {
    if (platform) {
      await api(`/v1/functions/${name}`, { method: 'DELETE' });
      await platform.stop();
    }
    const admin = new Redis(REDIS_URL);
    const keys = await admin.keys(`${platformIdFor(stateDir)}:*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('refuses without a key, answers with one (the handler never sees it), refuses it once revoked', async () => {
    const none = await call('GET', {});
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await call('GET', { 'x-stratus-key': platform.apiKey })).status).toBe(401);

    const issued = (await (await api(`/v1/functions/${name}/keys`, { method: 'POST', body: '{"name":"ci"}' })).json()) as { id: string; key: string };
    const ok = await call('GET', { 'x-stratus-key': issued.key, 'x-visible': 'yes' });
    expect(ok.status, ok.body).toBe(200);
    const seen = (JSON.parse(ok.body) as { headers: Record<string, string> }).headers;
    expect(seen['x-visible']).toBe('yes');
    expect(Object.keys(seen)).not.toContain('x-stratus-key');
    expect(ok.body).not.toContain(issued.key);

    expect((await api(`/v1/functions/${name}/keys/${issued.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await call('GET', { 'x-stratus-key': issued.key })).status).toBe(401);
  }, 120_000);

  it('answers a CORS preflight itself, though the function answers 500 to OPTIONS', async () => {
    const preflight = await call('OPTIONS', { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-stratus-key' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({ 'access-control-allow-origin': APP, 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'content-type, x-stratus-key', vary: 'Origin' });

    // The same method as a plain call reaches the function, which fails on it: the 204 above was the gateway's.
    const { key } = (await (await api(`/v1/functions/${name}/keys`, { method: 'POST', body: '{}' })).json()) as { key: string };
    const plain = await call('OPTIONS', { 'x-stratus-key': key, origin: APP });
    expect(plain.status).toBe(500);
    expect(JSON.parse(plain.body)).toMatchObject({ code: 'FUNCTION_ERROR' });
    expect(plain.headers['access-control-allow-origin']).toBe(APP);

    const refused = await call('OPTIONS', { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST' });
    expect(refused.status).toBe(403);
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
  }, 120_000);
});
