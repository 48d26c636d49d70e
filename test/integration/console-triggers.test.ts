// The console's triggers, keys and traffic pages driven in headless Chromium (Debian's chromium through
// playwright-core) on real Docker, Redis and the registry: a user signs in, types a cron schedule and sees its
// next fire times before saving, saves it and sees it fire (every second: node-cron's six-field form, which
// core/triggers.ts accepts); adds a storage trigger and sees it fire when an object is put; makes the function URL take invoke keys only, issues a key (shown once: the
// answer to the POST, no-store, on no later page) and calls the URL with it and without it; sets a 20 %
// canary with the slider, follows the rollout, sees both versions answer, and rolls back. A forged form from
// another origin is refused for every new action. Screenshots go to test-artifacts/console-triggers/.

import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { chromiumFor, launchChromium, signIn } from '../support/chromium.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, tarGzOf, waitForBuild } from '../support/platform-client.js';
import { missing, REDIS_URL } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';
import { until } from '../support/until.js';

const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts/console-triggers');
const CHROMIUM = chromiumFor('the console triggers test');

const code = (version: string) => `export default async function (event) {
  return { version: '${version}', cron: event.type === 'dev.stratus.cron.tick' };
}`;

describe.skipIf(!CHROMIUM || (await missing('docker', 'redis', 'registry', 'runtime-images')))('console: triggers, keys and traffic in headless Chromium (Docker, Redis, registry)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let invokeKey = '';
  let s3: S3Client;
  const bucket = `console-${Date.now().toString(36)}`;
  const name = `ctrig-${Date.now().toString(36)}`;
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
  const apiJson = async <T>(p: string) => (await (await api(p)).json()) as T;
  const call = (key?: string) => fetch(`${platform.url}/fn/${name}`, { headers: key ? { 'x-stratus-key': key } : {} });
  const shot = (file: string) => page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true });
  const deploy = async (version: string) => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ctrig-fn-'));
    await fs.writeFile(path.join(dir, 'index.mjs'), code(version));
    const res = await deployFunction(platform, { name, runtime: 'node' }, { file: 'code.tar.gz', content: await tarGzOf(dir) });
    await fs.rm(dir, { recursive: true, force: true });
    expect(res.status, await res.clone().text()).toBe(202);
    const build = await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
  };

  beforeAll(async () => {
    await fs.mkdir(ARTIFACTS, { recursive: true });
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-console-triggers-'));
    platform = await startPlatform(e2eConfig(stateDir), silentLogger);
    const s3Key = (await (await api('/v1/storage/keys', { method: 'POST' })).json()) as { accessKeyId: string; secretAccessKey: string };
    s3 = new S3Client({ endpoint: platform.storage!.url, forcePathStyle: true, region: 'us-east-1', credentials: s3Key, maxAttempts: 1 });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await deploy('v1');
    await deploy('v2');
    browser = await launchChromium(CHROMIUM!);
    context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    page = await context.newPage();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    s3?.destroy();
    if (platform) {
      await api(`/v1/functions/${name}`, { method: 'DELETE' });
      await platform.stop();
    }
    await removeRedisKeys(REDIS_URL, `${platformIdFor(stateDir)}:`);
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('answers neither new page without the session cookie', async () => {
    for (const p of [`/ui/functions/${name}/triggers`, `/ui/functions/${name}/traffic`]) {
      const res = await fetch(`${platform.url}${p}`, { redirect: 'manual', headers: { accept: 'text/html' } });
      expect(res.status, p).toBe(303);
      expect(res.headers.get('location'), p).toMatch(/^\/ui\/login\?next=/);
    }
  });

  it('signs in, shows a cron schedule\'s next fire times before saving, saves it and sees it fire', async () => {
    await signIn(page, platform.url, platform.apiKey);
    await page.goto(`${platform.url}/ui/functions/${name}`);
    await page.click('#manage-triggers');
    await page.waitForURL(new RegExp(`/ui/functions/${name}/triggers$`));

    await page.fill('#cron-schedule', '* * * * * *');
    const times = page.locator('#cron-preview ol.preview time');
    await expect.poll(() => times.count(), { timeout: 10_000 }).toBe(5);
    const next = (await times.evaluateAll((els) => els.map((e) => e.getAttribute('datetime')!))).map((t) => Date.parse(t));
    expect(next.slice(1).map((t, i) => t - next[i]!)).toEqual([1000, 1000, 1000, 1000]);
    expect(Math.abs(next[0]! - Date.now())).toBeLessThan(5_000);
    // Nothing is saved by a preview.
    expect((await apiJson<{ triggers: unknown[] }>(`/v1/functions/${name}/triggers`)).triggers).toEqual([]);
    await page.fill('#cron-schedule', '* * * 99 *');
    await expect.poll(() => page.textContent('#cron-preview'), { timeout: 10_000 }).toContain('not a valid cron expression');
    await page.fill('#cron-schedule', '* * * * * *');
    await expect.poll(() => times.count(), { timeout: 10_000 }).toBe(5);
    await shot('cron-preview.png');

    await page.click('#cron-save');
    await expect.poll(() => page.textContent('.flash-ok')).toContain('cron trigger * * * * * * added');
    const [trigger] = (await apiJson<{ triggers: Array<{ id: string; type: string; schedule: string }> }>(`/v1/functions/${name}/triggers`)).triggers;
    expect(trigger).toMatchObject({ type: 'cron', schedule: '* * * * * *' });
    // The live stream brings the fire and its invocation's outcome into the row, without a reload.
    await page.waitForSelector('#live-state.on');
    await expect.poll(() => page.textContent(`#fires-${trigger!.id}`), { timeout: 90_000 }).toContain('succeeded');
    await shot('cron-fired.png');
    const invocations = await apiJson<{ invocations: Array<{ trigger: string }> }>(`/v1/functions/${name}/invocations?limit=20`).catch(() => null);
    if (invocations?.invocations) expect(invocations.invocations.some((i) => i.trigger === 'cron')).toBe(true);

    await page.click(`tr[data-trigger="${trigger!.id}"] form.remove button`);
    await expect.poll(() => page.textContent('.flash-ok')).toContain('removed');
    expect((await apiJson<{ triggers: unknown[] }>(`/v1/functions/${name}/triggers`)).triggers).toEqual([]);
  }, 180_000);

  it('adds a storage trigger from the form and sees it fire when an object is put', async () => {
    await page.fill('#storage-bucket', bucket);
    await page.uncheck('#storage-form input[value="ObjectCreated:*"]');
    await page.check('#storage-form input[value="ObjectCreated:Put"]');
    await page.fill('#storage-suffix', '.txt');
    await page.click('#storage-form button[type=submit]');
    await expect.poll(() => page.textContent('.flash-ok')).toContain(`storage trigger on bucket ${bucket} added`);
    const [trigger] = (await apiJson<{ triggers: Array<{ id: string }> }>(`/v1/functions/${name}/triggers`)).triggers;
    expect(trigger).toMatchObject({ type: 'storage', bucket, events: ['ObjectCreated:Put'], filter: { suffix: '.txt' } });
    await page.waitForSelector('#live-state.on');
    // The storage dispatcher follows the trigger index, refreshed on the store's notice: put until one fires.
    await until('the storage trigger to fire', async () => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `in/${Date.now()}.txt`, Body: 'hello' }));
      const t = await apiJson<{ fires: unknown[] }>(`/v1/functions/${name}/triggers/${trigger!.id}`);
      return t.fires.length > 0 ? true : undefined;
    }, 30_000, 1000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ignored.bin', Body: 'not a .txt' }));
    await expect.poll(() => page.textContent(`#fires-${trigger!.id}`), { timeout: 90_000 }).toContain('succeeded');
    expect(await page.textContent(`#fires-${trigger!.id}`)).not.toContain('ignored.bin');
    await shot('storage-fired.png');

    await page.click(`tr[data-trigger="${trigger!.id}"] form.remove button`);
    await expect.poll(() => page.textContent('.flash-ok')).toContain('removed');
    expect((await apiJson<{ triggers: unknown[] }>(`/v1/functions/${name}/triggers`)).triggers).toEqual([]);
  }, 150_000);

  it('makes the URL take invoke keys only, issues a key shown once, and calls the URL with it and without it', async () => {
    await page.check('#http-auth-key');
    await page.click('#http-form button[type=submit]');
    await expect.poll(() => page.textContent('.flash-ok')).toContain('an invoke key is required');
    await until('the URL to refuse calls without a key', async () => ((await call()).status === 401 ? true : undefined), 15_000, 100);

    await page.fill('#key-name', 'console e2e');
    const answer = page.waitForResponse((r) => r.url().endsWith(`/ui/functions/${name}/keys`) && r.request().method() === 'POST');
    await page.click('#key-form button[type=submit]');
    const res = await answer;
    expect(res.status()).toBe(200); // the page itself: no redirect to a URL that could carry the key
    expect(res.headers()['cache-control']).toBe('no-store');
    invokeKey = (await page.textContent('#new-invoke-key'))!.trim();
    expect(invokeKey).toMatch(/^stk_[A-Za-z0-9_-]{43}$/);
    expect(page.url()).not.toContain(invokeKey);
    await shot('invoke-key.png');

    const withKey = await until('a call with the key to pass', async () => {
      const r = await call(invokeKey);
      return r.status === 200 ? r : undefined;
    }, 30_000, 200);
    expect(await withKey.json()).toMatchObject({ version: 'v2' });
    const without = await call();
    expect(without.status).toBe(401);
    expect((await call('stk_not-a-key-of-this-function')).status).toBe(401);

    await page.click('#key-done');
    await page.waitForURL(new RegExp(`/ui/functions/${name}/triggers$`));
    const later = (await page.content()) + (await page.evaluate(() => document.cookie + JSON.stringify(window.localStorage)));
    expect(later).not.toContain(invokeKey);
    expect(later).toContain(invokeKey.slice(0, 10));
    await shot('triggers-and-keys.png');
  }, 120_000);

  it('sets a 20 % canary with the slider, follows its rollout, and rolls back', async () => {
    await page.goto(`${platform.url}/ui/functions/${name}`);
    await page.click('#manage-traffic');
    await page.waitForURL(new RegExp(`/ui/functions/${name}/traffic$`));
    await page.selectOption('#canary-stable', '1');
    await page.selectOption('#canary-version', '2');
    await page.fill('#canary-weight', '20');
    expect(await page.textContent('#canary-weight-out')).toBe('20 % to v2, 80 % to v1');
    await shot('canary-form.png');
    await page.click('#canary-form button[type=submit]');
    await page.waitForURL(new RegExp(`/ui/functions/${name}/traffic$`));
    await page.waitForSelector('#traffic-rollout [data-state="done"]', { timeout: 90_000 });
    await expect.poll(() => page.textContent('#traffic-aliases'), { timeout: 10_000 }).toContain('20 %');
    expect((await apiJson<{ aliases: unknown }>(`/v1/functions/${name}/aliases`)).aliases).toEqual({ latest: [{ version: 1, weight: 80 }, { version: 2, weight: 20 }] });
    await shot('canary.png');

    // Both versions answer the plain URL (the route cache follows the store); 0 of 80 calls at 20 % is p ≈ 2e-8.
    const seen = await until('both versions to answer', async () => {
      const got: Record<string, number> = {};
      for (let i = 0; i < 80; i++) {
        const r = await call(invokeKey);
        expect(r.status).toBe(200);
        const v = ((await r.json()) as { version: string }).version;
        got[v] = (got[v] ?? 0) + 1;
      }
      return got.v1 && got.v2 ? got : undefined;
    }, 60_000, 500);
    expect(seen.v1!).toBeGreaterThan(seen.v2!);

    await page.selectOption('#traffic-rollback-form select[name=alias]', 'latest');
    await page.click('#traffic-rollback-form button[type=submit]');
    await page.waitForURL(new RegExp(`/ui/functions/${name}/traffic$`));
    await page.waitForSelector('#traffic-rollout [data-state="done"]', { timeout: 60_000 });
    await expect.poll(() => page.textContent('#traffic-rollout'), { timeout: 10_000 }).toContain('rollback');
    await expect.poll(() => page.textContent('#traffic-aliases'), { timeout: 10_000 }).not.toContain('%');
    expect((await apiJson<{ aliases: unknown }>(`/v1/functions/${name}/aliases`)).aliases).toEqual({ latest: [{ version: 1, weight: 100 }] });
    await until('v1 alone to answer', async () => {
      for (let i = 0; i < 20; i++) if (((await (await call(invokeKey)).json()) as { version: string }).version !== 'v1') return undefined;
      return true;
    }, 30_000, 200);
    await shot('rolled-back.png');
  }, 240_000);

  it('refuses a forged form from another origin for each new action', async () => {
    const fields: Record<string, Record<string, string>> = {
      'triggers/cron-preview': { schedule: '* * * * * *' },
      'triggers/cron': { schedule: '* * * * * *', timezone: 'UTC' },
      'triggers/storage': { bucket: 'forged-bucket', events: 'ObjectCreated:*' },
      'triggers/http': { auth: 'public' },
      'triggers/http/delete': {},
      keys: { name: 'forged' },
      'keys/any/revoke': {},
      'traffic/canary': { alias: 'latest', stable: '1', canary: '2', weight: '50' },
      'traffic/promote': { alias: 'latest' },
      'traffic/rollback': { alias: 'latest' },
      'traffic/move': { alias: 'latest', version: '2' },
    };
    const forger = http.createServer((req, res) => {
      const action = new URL(req.url ?? '/', 'http://x').searchParams.get('a') ?? '';
      const inputs = Object.entries(fields[action] ?? {}).map(([k, v]) => `<input name="${k}" value="${v}">`).join('');
      res.setHeader('content-type', 'text/html');
      res.end(`<form id="f" method="post" action="${platform.url}/ui/functions/${name}/${action}">${inputs}</form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => forger.listen(0, '127.0.0.1', r));
    const before = JSON.stringify([await apiJson(`/v1/functions/${name}/triggers`), await apiJson(`/v1/functions/${name}/keys`), await apiJson(`/v1/functions/${name}/aliases`)]);
    try {
      for (const action of Object.keys(fields)) {
        // Another port of 127.0.0.1: the same site (SameSite lets the cookie go), another origin.
        const answer = page.waitForResponse((r) => r.url() === `${platform.url}/ui/functions/${name}/${action}`);
        await page.goto(`http://127.0.0.1:${(forger.address() as AddressInfo).port}/?a=${encodeURIComponent(action)}`);
        expect((await answer).status(), action).toBe(403);
        expect(await page.textContent('body'), action).toContain('CSRF_REFUSED');
      }
      await shot('forged-refused.png');
    } finally {
      forger.close();
    }
    expect(JSON.stringify([await apiJson(`/v1/functions/${name}/triggers`), await apiJson(`/v1/functions/${name}/keys`), await apiJson(`/v1/functions/${name}/aliases`)])).toBe(before);
    expect((await call()).status).toBe(401); // still key-protected
  }, 120_000);
});
