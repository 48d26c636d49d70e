// A hostile tenant against a signed-in operator, in headless Chromium (issue 15, item 1), on real Docker,
// Redis and the registry. The tenant deploys a function whose page tries everything a script in the
// dashboard's origin could do: read /ui pages and the API, post a delete, plant or shadow the session
// cookie, register a service worker over the whole origin, read a window it opens. The operator, signed
// in, opens the page on the function's own host (http://NAME.fn.localhost:PORT/), then at /fn/NAME on
// the API's origin, then an S3 object of the same page through a presigned URL. The operator loses
// nothing: no action done, no page read, no worker registered on the dashboard's origin, no cookie but
// its own seen by /ui, and on the API's origin no script of the tenant's runs at all.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { chromiumFor, launchChromium, signIn } from '../support/chromium.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { presignUrl, type TestKey } from '../support/s3-sign.js';
import { missing, REDIS_URL } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';

const CHROMIUM = chromiumFor('the hostile-tenant suite');

/**
 * The tenant's page. Its script first marks that it ran (the title), then tries each attack and keeps
 * what each gave in window.results: a string the attack read, or the error it ended with.
 */
const HOSTILE_PAGE = `<!doctype html><html><head><title>hostile</title></head><body><p>nothing to see</p><script>
document.title = 'ran';
const params = new URLSearchParams(location.search);
const dash = params.get('dash');
const victim = params.get('victim');
const out = {};
const attempt = async (name, fn) => { try { out[name] = String(await fn()); } catch (e) { out[name] = 'threw ' + e.name; } };
window.results = (async () => {
  await attempt('sameOriginUi', async () => (await (await fetch('/ui/functions')).text()).includes('nothing to see') ? 'the function itself' : 'something else');
  await attempt('dashboardRead', async () => (await (await fetch(dash + '/ui/functions', { credentials: 'include' })).text()).slice(0, 200));
  await attempt('apiRead', async () => (await (await fetch(dash + '/v1/functions', { credentials: 'include' })).text()).slice(0, 200));
  await attempt('blindDelete', async () => (await fetch(dash + '/ui/functions/' + victim + '/delete', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'confirm=' + victim })).type);
  document.cookie = 'stratus_session=planted-by-script; path=/ui';
  document.cookie = 'stratus_session=planted-narrow; path=/ui/functions; domain=localhost';
  document.cookie = 'stratus_session=planted-parent; path=/; domain=fn.localhost';
  await attempt('worker', async () => (await navigator.serviceWorker.register('/sw.js', { scope: '/' })).scope);
  await attempt('windowRead', async () => {
    const w = window.open(dash + '/ui/functions');
    await new Promise((r) => setTimeout(r, 1500));
    try { return w.document.body.innerHTML.slice(0, 200); } finally { w.close(); }
  });
  const form = Object.assign(document.createElement('form'), { method: 'POST', action: dash + '/ui/functions/' + victim + '/delete', target: '_blank' });
  const field = Object.assign(document.createElement('input'), { name: 'confirm', value: victim });
  form.append(field);
  document.body.append(form);
  form.submit();
  await new Promise((r) => setTimeout(r, 1500));
  return out;
})();
</script></body></html>`;

const hostileCode = `const PAGE = ${JSON.stringify(HOSTILE_PAGE)};
export default async function (event) {
  if (event.path === '/inject.js') return { statusCode: 200, headers: { 'content-type': 'text/javascript' }, body: "document.title = 'injected';" };
  if (event.path === '/sw.js') {
    return { statusCode: 200, headers: { 'content-type': 'text/javascript', 'service-worker-allowed': '/' }, body: "self.addEventListener('fetch', (e) => e.respondWith(new Response('owned')));" };
  }
  return { statusCode: 200, headers: { 'content-type': 'text/html', 'set-cookie': 'stratus_session=planted-by-header; Path=/ui', 'clear-site-data': '"cookies"' }, body: PAGE };
}`;

describe.skipIf(!CHROMIUM || (await missing('docker', 'redis', 'registry', 'runtime-images')))('a hostile tenant against a signed-in operator, in headless Chromium', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  let browser: Browser;
  let context: BrowserContext;
  let operator: Page;
  let dash: string;
  let port: string;
  /** Every Cookie header a request to /ui carried, in order. */
  const uiCookies: string[] = [];
  const suffix = Date.now().toString(36);
  const [evil, victim] = [`evil-${suffix}`, `victim-${suffix}`];
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, ...(init.headers as Record<string, string>) } });
  // Every session cookie a /ui page would be sent, whatever its path.
  const sessionCookies = async () => (await context.cookies(`${dash}/ui/functions/${victim}`)).filter((c) => c.name === 'stratus_session');

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-tenant-'));
    platform = await startPlatform(e2eConfig(stateDir), silentLogger);
    dash = platform.url; // http://127.0.0.1:PORT
    port = new URL(dash).port;
    for (const [name, file, content] of [[evil, 'index.mjs', hostileCode], [victim, 'index.mjs', 'export default () => "victim"']] as const) {
      const res = await deployFunction(platform, { name, runtime: 'node' }, { file, content });
      expect(res.status, await res.clone().text()).toBe(202);
      const build = await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId);
      expect(build.status, build.error ?? '').toBe('succeeded');
    }
    browser = await launchChromium(CHROMIUM!);
    context = await browser.newContext();
    context.on('request', (req) => {
      // A request still in flight when the context closes (afterAll) has no headers to give: nothing to count then.
      if (req.url().startsWith(`${dash}/ui`)) void req.allHeaders().then((h) => uiCookies.push(h.cookie ?? ''), () => {});
    });
    operator = await context.newPage();
    await signIn(operator, dash, platform.apiKey);
  }, 400_000);

  afterAll(async () => {
    await browser?.close();
    if (platform) {
      for (const name of [evil, victim]) await api(`/v1/functions/${name}`, { method: 'DELETE' });
      await platform.stop();
    }
    await removeRedisKeys(REDIS_URL, `${platformIdFor(stateDir)}:`);
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  /** The operator's dashboard as it should be after any attack: still signed in, the victim still there. */
  const operatorKeepsEverything = async (session: string) => {
    expect((await api(`/v1/functions/${victim}`)).status).toBe(200);
    expect((await sessionCookies()).map((c) => c.value)).toEqual([session]);
    uiCookies.length = 0;
    await operator.goto(`${dash}/ui/functions`);
    expect(operator.url()).toBe(`${dash}/ui/functions`); // not sent to the sign-in
    expect(await operator.textContent('body')).toContain(victim);
    expect(uiCookies.length).toBeGreaterThan(0);
    for (const header of uiCookies) expect(header).toBe(`stratus_session=${session}`);
    expect(await operator.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length)).toBe(0);
  };

  it('on its own host, the tenant\'s page reads nothing of the dashboard, does nothing in it and plants nothing', async () => {
    const [session] = await sessionCookies();
    expect(session).toBeDefined();
    const page = await context.newPage();
    const own = `http://${evil}.fn.localhost:${port}`;
    await page.goto(`${own}/?dash=${encodeURIComponent(dash)}&victim=${victim}`);
    expect(await page.title()).toBe('ran'); // its own origin: its scripts run, as any web page's do
    const results = await page.evaluate(() => (window as unknown as { results: Promise<Record<string, string>> }).results);
    // Every path on the function's host is the function's: /ui there is its own page, not the dashboard.
    expect(results.sameOriginUi).toBe('the function itself');
    // Cross-origin reads end in CORS errors; a blind POST goes out without the SameSite=Strict cookie.
    expect(results.dashboardRead).toBe('threw TypeError');
    expect(results.apiRead).toBe('threw TypeError');
    expect(results.blindDelete).toBe('opaque');
    expect(results.windowRead).toBe('threw SecurityError');
    // A worker it may have, over its own origin only.
    expect(results.worker).toBe(`${own}/`);
    await page.close();
    for (const p of context.pages()) if (p !== operator) await p.close();
    await operatorKeepsEverything(session!.value);
  });

  it('at /fn/NAME on the API\'s origin, the tenant\'s page runs no script and sets no cookie', async () => {
    const [session] = await sessionCookies();
    const page = await context.newPage();
    const answer = await page.goto(`${dash}/fn/${evil}/?dash=${encodeURIComponent(dash)}&victim=${victim}`);
    expect(answer!.headers()['content-security-policy']).toBe('sandbox');
    expect(answer!.headers()['set-cookie']).toBeUndefined();
    await page.waitForTimeout(2000);
    expect(await page.title()).toBe('hostile'); // the script never ran
    // What a script could have done, tried from the page itself: an opaque origin reaches nothing.
    expect(await page.evaluate(() => self.origin)).toBe('null');
    expect(await page.evaluate(() => { try { return document.cookie; } catch (e) { return `threw ${(e as Error).name}`; } })).toBe('threw SecurityError');
    expect(await page.evaluate(async () => {
      try {
        return (await navigator.serviceWorker.register('/fn/x/sw.js', { scope: '/' })).scope;
      } catch (e) {
        return `threw ${(e as Error).name}`;
      }
    })).toMatch(/^threw /);
    await page.close();
    await operatorKeepsEverything(session!.value);
  });

  it('an S3 object opened through a presigned URL is inert too', async () => {
    const [session] = await sessionCookies();
    const res = await api('/v1/storage/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status, await res.clone().text()).toBe(201);
    const key = (await res.json()) as TestKey & { endpoint: string };
    const s3 = new S3Client({ endpoint: key.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: key, maxAttempts: 1 });
    const bucket = `tenant-${suffix}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'page.html', Body: HOSTILE_PAGE, ContentType: 'text/html' }));
    s3.destroy();
    const url = await presignUrl(key.endpoint, key, 'GET', `/${bucket}/page.html`, 300);
    const page = await context.newPage();
    const answer = await page.goto(url);
    expect(answer!.status()).toBe(200);
    expect(answer!.headers()['content-security-policy']).toBe('sandbox');
    expect(answer!.headers()['x-content-type-options']).toBe('nosniff');
    await page.waitForTimeout(1000);
    expect(await page.title()).toBe('hostile');
    expect(await page.evaluate(() => self.origin)).toBe('null');
    await page.close();
    await operatorKeepsEverything(session!.value);
  });

  it('a script tag injected into a dashboard page cannot load a function\'s script from /fn/NAME', async () => {
    await operator.goto(`${dash}/ui/functions`);
    const outcome = await operator.evaluate((src) => new Promise<string>((resolve) => {
      const script = Object.assign(document.createElement('script'), { src, onload: () => resolve('loaded'), onerror: () => resolve('blocked') });
      document.head.append(script);
    }), `/fn/${evil}/inject.js`);
    expect(outcome).toBe('blocked');
    expect(await operator.title()).not.toBe('injected');
  });
});
