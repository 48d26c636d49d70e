// The console's code screens (issue 18, items 1, 2 and 7) in headless Chromium (Debian's chromium through
// playwright-core) on real Docker, Redis and the registry: a user signs in, creates a Node function from
// the template after the API's own validation message, edits it in the editor (CodeMirror, served from
// /ui/assets), deploys, follows the build and lands on the function once it serves; uploads a zip for a
// Python function; opens the serving version's source, edits, redeploys and sees the diff. Code shown in
// the pages stays text. A forged form from another origin, and a deploy without the CSRF token, are refused.
// Screenshots go to test-artifacts/console/.

import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { makeZip } from '../fixtures/archives/make-archives.js';
import { chromiumFor, launchChromium, signIn } from '../support/chromium.js';
import { e2eConfig } from '../support/e2e-config.js';
import { missing, REDIS_URL } from '../support/services.js';
import { removeRedisKeys } from '../support/stratus-process.js';

const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts/console');
const CHROMIUM = chromiumFor('the console code test');
/** A build: checks, image, push and the load check; generous for a CI machine with 2 cores. */
const BUILD_MS = 240_000;

const edited = (tag: string) => `// ${tag}: the code shown in a page is text, never markup: </textarea><b id="injected">x</b>
export default async function (event, context) {
  return { edited: '${tag}', name: event.query.name ?? 'nobody', version: context.version };
}
`;

describe.skipIf(!CHROMIUM || (await missing('docker', 'redis', 'registry', 'runtime-images')))('console: create, edit, deploy and diff code in headless Chromium', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const stamp = Date.now().toString(36);
  const nodeFn = `con-node-${stamp}`;
  const pyFn = `con-py-${stamp}`;
  const api = (p: string, init: RequestInit = {}) => fetch(`${platform.url}${p}`, { ...init, headers: { authorization: `Bearer ${platform.apiKey}`, ...(init.headers as Record<string, string>) } });
  const shot = (file: string) => page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true });
  const call = async (fn: string) => {
    const res = await fetch(`${platform.url}/fn/${fn}?name=console`);
    return { status: res.status, body: (await res.text()) };
  };
  /**
   * Replaces the text of the visible editor as a user pasting it does (select all, paste): typed keys would
   * get auto-closed brackets and auto-indent, and a synthetic text input turns runs of spaces into NBSPs.
   */
  const replaceEditorText = async (text: string) => {
    await page.locator('.cm-editor:visible .cm-content').click();
    await page.keyboard.press('Control+A');
    await page.evaluate((t) => {
      const data = new DataTransfer();
      data.setData('text/plain', t);
      // The editor lives in a shadow root (console.js says why): the visible host's.
      const host = [...document.querySelectorAll('.code-host')].find((e) => (e as HTMLElement).offsetParent !== null)!;
      const target = host.shadowRoot!.querySelector('.cm-content')!;
      target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    }, text);
  };
  /** After Deploy: the build page follows the build, then the page lands on the function. */
  const followBuildToFunction = async (fn: string, screenshot?: string) => {
    await page.waitForURL(/\/ui\/builds\/[^/?]+\?then=/, { timeout: 60_000 });
    const buildId = new URL(page.url()).pathname.split('/').pop()!;
    await page.waitForSelector('#build-log');
    if (screenshot) await shot(screenshot);
    await page.waitForURL(new RegExp(`/ui/functions/${fn}$`), { timeout: BUILD_MS });
    return buildId;
  };

  beforeAll(async () => {
    await fs.mkdir(ARTIFACTS, { recursive: true });
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-console-'));
    platform = await startPlatform(e2eConfig(stateDir, { STRATUS_S3_PORT: 'off' }), silentLogger);
    browser = await launchChromium(CHROMIUM!);
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    await signIn(page, platform.url, platform.apiKey);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (platform) {
      for (const fn of [nodeFn, pyFn]) await api(`/v1/functions/${fn}`, { method: 'DELETE' });
      await platform.stop();
    }
    await removeRedisKeys(REDIS_URL, `${platformIdFor(stateDir)}:`);
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('creates a Node function from the template, edited in the editor; the API\'s message first; lands on it when it serves', async () => {
    await page.click('#create-function');
    await page.waitForURL(/\/ui\/new$/);
    await page.waitForSelector('.cm-editor .cm-content');
    // The template is there, highlighted as JavaScript by CodeMirror (its tokens are spans with classes).
    expect(await page.textContent('.cm-content')).toContain('export default async function (event, context)');
    expect(await page.locator('.cm-content span[class]').count()).toBeGreaterThan(3);
    // CodeMirror's own styles took (the CSP refuses a <style> element: console.js mounts it in a shadow root).
    expect(await page.locator('.cm-gutters').evaluate((e) => getComputedStyle(e).display)).toBe('flex');
    await page.fill('input[name="name"]', nodeFn);
    await page.fill('input[name="memoryMb"]', '5');
    await page.click('#new-function button[type=submit]');
    // The API's own validation message, beside its field.
    await expect.poll(() => page.textContent('.field-error[data-for="memoryMb"]')).toContain('config.memoryMb');
    await shot('create-invalid.png');
    expect((await api(`/v1/functions/${nodeFn}`)).status).toBe(404);

    await page.fill('input[name="memoryMb"]', '128');
    await page.fill('textarea[name="env"]', 'GREETING=hi');
    await replaceEditorText(edited('first'));
    // And keys typed at its end.
    await page.keyboard.press('Control+End');
    await page.keyboard.type('// typed in the editor');
    await shot('create-node.png');
    await page.click('#new-function button[type=submit]');
    await followBuildToFunction(nodeFn, 'create-build.png');
    await shot('create-landed.png');

    const served = await call(nodeFn);
    expect(served.status, served.body).toBe(200);
    expect(JSON.parse(served.body)).toEqual({ edited: 'first', name: 'console', version: 1 });
    const fn = (await (await api(`/v1/functions/${nodeFn}`)).json()) as { config: Record<string, unknown>; currentVersion: number };
    expect(fn.currentVersion).toBe(1);
    expect(fn.config).toMatchObject({ runtime: 'node', memoryMb: 128, env: { GREETING: 'hi' } });
    // CLI users get the same source back.
    const source = await api(`/v1/functions/${nodeFn}/versions/1/source`);
    expect(source.headers.get('content-disposition')).toBe('attachment; filename="index.mjs"');
    expect(await source.text()).toBe(`${edited('first')}// typed in the editor`);
  }, BUILD_MS + 60_000);

  it('uploads a zip for a Python function', async () => {
    await page.goto(`${platform.url}/ui/new`);
    await page.waitForSelector('.cm-editor .cm-content');
    await page.fill('input[name="name"]', pyFn);
    await page.selectOption('select[name="runtime"]', 'python');
    // The untouched template follows the runtime.
    await expect.poll(() => page.textContent('.cm-content')).toContain('def handler(event, context):');
    await page.check('input[name="source"][value="upload"]');
    const main = 'def handler(event, context):\n    return {"runtime": "python", "name": event["query"].get("name", "nobody")}\n';
    await page.setInputFiles('input[type="file"][name="code"]', { name: 'py-code.zip', mimeType: 'application/zip', buffer: makeZip([{ name: 'main.py', data: main }]) });
    await shot('create-python-upload.png');
    await page.click('#new-function button[type=submit]');
    await followBuildToFunction(pyFn);
    const served = await call(pyFn);
    expect(served.status, served.body).toBe(200);
    expect(JSON.parse(served.body)).toEqual({ runtime: 'python', name: 'console' });
    const files = (await (await api(`/v1/functions/${pyFn}/versions/1/source/files`)).json()) as { sourceName: string; files: Array<{ path: string; text: string }> };
    expect(files.sourceName).toBe('py-code.zip');
    expect(files.files).toEqual([{ path: 'main.py', bytes: Buffer.byteLength(main), text: main }]);

    // An archive's files come back into the editor (Python highlighting) and go out again as an archive.
    await page.goto(`${platform.url}/ui/functions/${pyFn}/code`);
    await page.waitForSelector('.cm-editor .cm-content');
    expect(await page.textContent('.cm-content')).toContain('"runtime": "python"');
    await replaceEditorText(main.replace('"python"', '"python, edited"'));
    await page.click('#code-form button[type=submit]');
    await followBuildToFunction(pyFn);
    expect(JSON.parse((await call(pyFn)).body)).toEqual({ runtime: 'python, edited', name: 'console' });
    const v2 = (await (await api(`/v1/functions/${pyFn}/versions/2/source/files`)).json()) as { sourceName: string; files: Array<{ path: string; text: string }> };
    expect(v2.sourceName).toBe('code.tar');
    expect(v2.files).toEqual([{ path: 'main.py', bytes: Buffer.byteLength(main) + 8, text: main.replace('"python"', '"python, edited"') }]);
  }, 2 * BUILD_MS + 60_000);

  it('opens the serving version\'s source, edits it, deploys a new version with the same settings, and shows the diff', async () => {
    await page.goto(`${platform.url}/ui/functions/${nodeFn}`);
    await page.click('#edit-code');
    await page.waitForURL(new RegExp(`/ui/functions/${nodeFn}/code$`));
    await page.waitForSelector('.cm-editor .cm-content');
    // The code is shown as text: the markup in its comment made no element.
    expect(await page.textContent('.cm-content')).toContain('</textarea><b id="injected">x</b>');
    expect(await page.locator('#injected').count()).toBe(0);
    expect(await page.textContent('h1')).toContain('v1 (serving)');
    await replaceEditorText(edited('second'));
    await shot('edit-code.png');
    await page.click('#code-form button[type=submit]');
    await followBuildToFunction(nodeFn);
    const served = await call(nodeFn);
    expect(JSON.parse(served.body)).toEqual({ edited: 'second', name: 'console', version: 2 });
    const fn = (await (await api(`/v1/functions/${nodeFn}`)).json()) as { config: Record<string, unknown>; currentVersion: number };
    expect(fn.currentVersion).toBe(2);
    expect(fn.config).toMatchObject({ memoryMb: 128, env: { GREETING: 'hi' } }); // the settings came along

    await page.goto(`${platform.url}/ui/functions/${nodeFn}/code`);
    await page.selectOption('select[name="a"]', '1');
    await page.click('form[action$="/diff"] button');
    await page.waitForURL(/\/diff\?a=1&b=2$/);
    const changed = page.locator('table.diff tr.diff-changed');
    expect(await changed.count()).toBe(2); // the comment's tag and the returned tag
    expect(await changed.nth(1).locator('td.l').textContent()).toContain("edited: 'first'");
    expect(await changed.nth(1).locator('td.r').textContent()).toContain("edited: 'second'");
    expect(await page.locator('table.diff tr.diff-same').count()).toBe(2);
    expect(await page.locator('#injected').count()).toBe(0);
    await shot('diff.png');
  }, BUILD_MS + 60_000);

  it('refuses a forged deploy form from another origin, and a deploy without the CSRF token', async () => {
    const actions = [`${platform.url}/ui/console/deploy`, `${platform.url}/ui/console/deploy?from=${nodeFn}&version=1`];
    for (const action of actions) {
      const forger = http.createServer((_req, res) => {
        res.setHeader('content-type', 'text/html');
        res.end(`<form id="f" method="post" enctype="multipart/form-data" action="${action}"><input name="config" value='{"name":"forged-${stamp}","runtime":"node"}'><textarea name="code">export default () => 1;</textarea></form><script>document.getElementById('f').submit()</script>`);
      });
      await new Promise<void>((r) => forger.listen(0, '127.0.0.1', r));
      try {
        // Another port of 127.0.0.1: the same site (SameSite lets the cookie go), another origin.
        const answer = page.waitForResponse((r) => r.url() === action);
        await page.goto(`http://127.0.0.1:${(forger.address() as AddressInfo).port}/`);
        expect((await answer).status(), action).toBe(403);
        expect(await page.textContent('body'), action).toContain('CSRF_REFUSED');
      } finally {
        forger.close();
      }
    }
    const cookie = (await context.cookies()).find((c) => c.name === 'stratus_session')!;
    const form = new FormData();
    form.append('config', JSON.stringify({ name: `forged-${stamp}`, runtime: 'node' }));
    form.append('code', new Blob(['export default () => 1;\n']), 'index.mjs');
    const noToken = await fetch(actions[0]!, { method: 'POST', headers: { cookie: `stratus_session=${cookie.value}`, origin: platform.url, accept: 'application/json' }, body: form });
    expect(noToken.status).toBe(403);
    expect(((await noToken.json()) as { code: string }).code).toBe('CSRF_REFUSED');
    const noCookie = await fetch(actions[0]!, { method: 'POST', headers: { origin: platform.url, accept: 'application/json' }, body: form });
    expect(noCookie.status).toBe(401);
    expect((await api(`/v1/functions/forged-${stamp}`)).status).toBe(404);
    // Still v2: the redeploy form was not taken either.
    expect(((await (await api(`/v1/functions/${nodeFn}`)).json()) as { latestVersion: number }).latestVersion).toBe(2);
  });
});
