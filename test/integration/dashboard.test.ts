// The dashboard at /ui driven in headless Chromium (Debian's chromium, launched by playwright-core with
// executablePath: no browser is downloaded) on real Docker, Redis and the registry: sign in, see a deployed
// function, invoke it from the page and watch the invocation appear without a reload, open its logs, watch a
// build's log stream while it builds, roll back, scale, delete; a wrong key is refused, no page, stream or
// action answers without the cookie, a forged cross-origin form without the CSRF token is refused, and /v1
// does not take the cookie. Screenshots go to test-artifacts/dashboard/.

import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { chromiumFor, launchChromium } from '../support/chromium.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, tarGzOf, waitForBuild } from '../support/platform-client.js';
import { missing, REDIS_URL } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';
import { until } from '../support/until.js';

const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts/dashboard');

const CHROMIUM = chromiumFor('the dashboard test');

const code = (version: string) => `export default async function (event, context) {
  const data = event.data ?? null;
  console.log('dashboard call with ' + JSON.stringify(data) + ' on ${version}');
  return { version: '${version}', got: data };
}`;

describe.skipIf(!CHROMIUM || (await missing('docker', 'redis', 'registry', 'runtime-images')))('dashboard in headless Chromium (Docker, Redis, registry)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const name = `dash-${Date.now().toString(36)}`;
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
  const deploy = async (version: string, slowTest = false) => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dash-fn-'));
    await fs.writeFile(path.join(dir, 'index.mjs'), code(version));
    // A test script that takes a few seconds keeps the build running while the page follows its log.
    if (slowTest) await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', scripts: { test: 'node -e "setTimeout(() => console.log(\'slow test done\'), 6000)"' } }));
    const res = await deployFunction(platform, { name, runtime: 'node' }, { file: 'code.tar.gz', content: await tarGzOf(dir) });
    await fs.rm(dir, { recursive: true, force: true });
    expect(res.status, await res.clone().text()).toBe(202);
    return ((await res.json()) as { buildId: string }).buildId;
  };
  const shot = (file: string) => page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true });
  const sessionCookie = async () => (await context.cookies()).find((c) => c.name === 'stratus_session');

  beforeAll(async () => {
    await fs.mkdir(ARTIFACTS, { recursive: true });
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-dashboard-'));
    platform = await startPlatform(e2eConfig(stateDir, { STRATUS_S3_PORT: 'off' }), silentLogger);
    for (const v of ['v1', 'v2']) {
      const build = await waitForBuild(platform, await deploy(v));
      expect(build.status, build.error ?? '').toBe('succeeded');
    }
    browser = await launchChromium(CHROMIUM!);
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (platform) {
      await api(`/v1/functions/${name}`, { method: 'DELETE' });
      await platform.stop();
    }
    await removeRedisKeys(REDIS_URL, `${platformIdFor(stateDir)}:`);
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('answers no page, stream, build log or action without the session cookie', async () => {
    for (const p of ['/ui', '/ui/functions', `/ui/functions/${name}`, '/ui/host']) {
      const res = await fetch(`${platform.url}${p}`, { redirect: 'manual', headers: { accept: 'text/html' } });
      expect(res.status, p).toBe(303);
      expect(res.headers.get('location'), p).toMatch(p === '/ui' ? /^\/ui\/(functions|login\?next=%2Fui)$/ : /^\/ui\/login\?next=/);
      expect(await res.text(), p).not.toMatch(/<table|serving/);
    }
    for (const p of ['/ui/live?view=functions', `/ui/live?view=function&name=${name}`, '/ui/api/builds/x/logs?follow=1']) {
      const res = await fetch(`${platform.url}${p}`, { headers: { accept: 'text/event-stream' } });
      expect(res.status, p).toBe(401);
      expect((await res.json()) as { code: string }).toMatchObject({ code: 'UNAUTHORIZED' });
    }
    for (const action of ['invoke', 'rollback', 'scale', 'delete']) {
      const res = await fetch(`${platform.url}/ui/functions/${name}/${action}`, { method: 'POST', headers: { origin: platform.url, 'content-type': 'application/x-www-form-urlencoded' }, body: `confirm=${name}&maxInstances=1` });
      expect(res.status, action).toBe(401);
    }
    expect((await api(`/v1/functions/${name}`)).status).toBe(200); // nothing was deleted
  });

  it('refuses a wrong key, then signs in and lists the deployed function', async () => {
    await page.goto(`${platform.url}/ui/functions`);
    expect(page.url()).toContain('/ui/login');
    await page.fill('#key', 'not-the-admin-key-at-all');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('body')).toContain('That is not the admin key.');
    expect(await sessionCookie()).toBeUndefined();
    await shot('login-refused.png');

    await page.fill('#key', platform.apiKey);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/ui\/functions$/);
    const cookie = await sessionCookie();
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/ui' });
    expect(cookie!.value).not.toContain(platform.apiKey);
    expect(await page.evaluate(() => JSON.stringify(window.localStorage) + document.cookie)).not.toContain(platform.apiKey);
    const row = page.locator(`#functions-rows tr[data-name="${name}"]`);
    await expect.poll(() => row.textContent()).toContain('v2');
    expect(await row.textContent()).toContain('serving');
    await page.fill('#search', 'no-such-function');
    expect(await row.isHidden()).toBe(true);
    await page.fill('#search', name.slice(0, 6));
    expect(await row.isVisible()).toBe(true);
  });

  it('invokes the function from its page and shows the invocation live, then its logs', async () => {
    // Some traffic for the charts and the list's figures.
    for (let i = 0; i < 20; i++) expect((await fetch(`${platform.url}/fn/${name}`)).status).toBe(200);
    await page.goto(`${platform.url}/ui/functions/${name}`);
    await page.waitForSelector('#live-state.on');
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'same page'));
    await page.fill('#payload', '{"order": "o-42"}');
    await page.click('#invoke-form button');
    await expect.poll(() => page.textContent('#invoke-result'), { timeout: 30_000 }).toContain('succeeded');
    expect(await page.textContent('#invoke-result')).toContain('"got":{"order":"o-42"}');
    const href = await page.getAttribute('#invoke-result a', 'href');
    const id = href!.split('/').pop()!;
    // The live stream brings the record into the table; the page was not reloaded.
    await page.waitForSelector(`#invocations tr[data-invocation="${id}"]`, { timeout: 30_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('same page');
    expect(await page.textContent(`#invocations tr[data-invocation="${id}"]`)).toContain('async');
    await page.waitForSelector('.plot[data-chart="rate"] canvas');
    await shot('function.png');

    await page.click(`#invocations tr[data-invocation="${id}"] a`);
    await page.waitForURL(new RegExp(`/ui/functions/${name}/invocations/${id}$`));
    await expect.poll(() => page.textContent('#invocation-logs'), { timeout: 30_000 }).toContain('dashboard call with {"order":"o-42"} on v2');
    await shot('invocation.png');
  });

  it('follows a build\'s log stream while it builds', async () => {
    const buildId = await deploy('v3', true);
    await page.goto(`${platform.url}/ui/builds/${buildId}`);
    // Opened while building: the page follows the builds API's event stream (/ui/api/builds/:id/logs?follow=1).
    expect(await page.getAttribute('#build-log', 'data-follow')).toBe(`/ui/api/builds/${buildId}/logs?follow=1`);
    await expect.poll(() => page.textContent('#build-log'), { timeout: 30_000 }).toContain('[check]');
    await page.waitForSelector('#build-log.ended', { timeout: 200_000 });
    expect(await page.textContent('#build-log')).toContain('slow test done');
    await expect.poll(() => page.textContent('#build-head'), { timeout: 10_000 }).toContain('succeeded');
    await shot('build.png');
    await until('v3 serving', async () => ((await (await api(`/v1/functions/${name}`)).json()) as { currentVersion: number }).currentVersion === 3 || undefined, 30_000);
  }, 300_000);

  it('rolls back and sets min/max instances from the page', async () => {
    await page.goto(`${platform.url}/ui/functions/${name}`);
    await page.click('form[action$="/rollback"] button');
    await expect.poll(() => page.textContent('.flash-ok')).toContain(`${name} serves v2 (was v3)`);
    expect(((await (await api(`/v1/functions/${name}`)).json()) as { currentVersion: number }).currentVersion).toBe(2);

    await page.fill('input[name=minInstances]', '1');
    await page.fill('input[name=maxInstances]', '3');
    await page.click('form[action$="/scale"] button');
    await expect.poll(() => page.textContent('.flash-ok'), { timeout: 60_000 }).toContain('1–3 instances');
    const fn = (await (await api(`/v1/functions/${name}`)).json()) as { config: { minInstances: number; maxInstances: number } };
    expect(fn.config).toMatchObject({ minInstances: 1, maxInstances: 3 });
    await page.waitForSelector('#instances table');
    await shot('function-after-rollback.png');
  });

  it('refuses a forged cross-origin form without the CSRF token, and /v1 does not take the cookie', async () => {
    const forger = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form id="f" method="post" action="${platform.url}/ui/functions/${name}/delete"><input name="confirm" value="${name}"></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => forger.listen(0, '127.0.0.1', r));
    try {
      // Another port of 127.0.0.1 is the same site (SameSite lets the cookie go) but another origin.
      const answer = page.waitForResponse((r) => r.url().endsWith(`/ui/functions/${name}/delete`));
      await page.goto(`http://127.0.0.1:${(forger.address() as AddressInfo).port}/`);
      expect((await answer).status()).toBe(403);
      expect(await page.textContent('body')).toContain('CSRF_REFUSED');
    } finally {
      forger.close();
    }
    expect((await api(`/v1/functions/${name}`)).status).toBe(200);

    const cookie = await sessionCookie();
    const withCookie = { cookie: `stratus_session=${cookie!.value}` };
    const noToken = await fetch(`${platform.url}/ui/functions/${name}/delete`, { method: 'POST', headers: { ...withCookie, origin: platform.url, 'content-type': 'application/x-www-form-urlencoded' }, body: `confirm=${name}` });
    expect(noToken.status).toBe(403);
    expect(((await noToken.json()) as { code: string }).code).toBe('CSRF_REFUSED');
    const v1 = await fetch(`${platform.url}/v1/functions`, { headers: withCookie });
    expect(v1.status).toBe(401);
    expect((await api(`/v1/functions/${name}`)).status).toBe(200);
  });

  it('shows the host', async () => {
    await page.goto(`${platform.url}/ui/host`);
    const stats = page.locator('#host-stats');
    await expect.poll(() => stats.textContent()).toContain('Redis');
    const text = (await stats.textContent())!;
    expect(text).toMatch(/Redis\s*ok/);
    expect(text).toMatch(/Registry\s*ok/);
    expect(text).toMatch(/Instances\s*[1-9]/); // minInstances 1 since the scale test
    expect(text).toContain('containers of this Stratus');
    expect(text).toContain('node');
    await page.waitForSelector('.plot[data-chart="rate"] canvas');
    await shot('host.png');
  });

  it('deletes after the name is typed, then signs out', async () => {
    await page.goto(`${platform.url}/ui/functions/${name}`);
    await page.fill('#confirm-name', 'not-the-name');
    await page.click('form[action$="/delete"] button');
    await expect.poll(() => page.textContent('.flash-error')).toContain(`type the function's name, ${name}`);
    expect((await api(`/v1/functions/${name}`)).status).toBe(200);
    await page.fill('#confirm-name', name);
    await page.click('form[action$="/delete"] button');
    await page.waitForURL(/\/ui\/functions$/);
    expect(await page.textContent('.flash-ok')).toContain(`${name} is deleted`);
    expect((await api(`/v1/functions/${name}`)).status).toBe(404);

    const before = (await sessionCookie())!.value;
    await page.click('.signout button');
    await page.waitForURL(/\/ui\/login$/);
    const res = await fetch(`${platform.url}/ui/functions`, { redirect: 'manual', headers: { accept: 'text/html', cookie: `stratus_session=${before}` } });
    expect(res.status).toBe(303); // the session is gone on the server, not only in the browser
  });

  it('throttles wrong keys: past ten in a minute even the right key waits', async () => {
    const login = (key: string) => fetch(`${platform.url}/ui/login`, { method: 'POST', redirect: 'manual', headers: { origin: platform.url, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ key }) });
    // The browser's wrong key counts too while it is less than a minute old: nine or ten more are refused with 401.
    let refused = 0;
    for (let i = 0; i < 10; i++) {
      const status = (await login(`wrong-${i}`)).status;
      if (status === 429) break;
      expect(status).toBe(401);
      refused++;
    }
    expect(refused).toBeGreaterThanOrEqual(9);
    const throttled = await login(platform.apiKey);
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(throttled.headers.get('set-cookie')).toBeNull();
  });
});
