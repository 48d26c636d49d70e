// The console's storage and async screens in headless Chromium (Debian's chromium through playwright-core) on
// real Docker, Redis and the registry (issue 18, items 5-7): a signed-in user creates a bucket and uploads an
// object from the page, and the function whose storage trigger matches it runs (its invocation shows on its
// page); issues an S3 key with a scope, uses it with the AWS SDK, revokes it and is refused after; replays a
// dead letter, then all, of a function that failed every attempt, and sees them run; a forged form from
// another origin is refused for every new action; a hostile HTML object downloaded from the console is saved,
// never run with the dashboard's origin. Screenshots go to test-artifacts/console-storage/.

import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import type { TriggerFire } from '../../core/store/triggers.js';
import { platformIdFor, startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { chromiumFor, launchChromium, signIn } from '../support/chromium.js';
import { e2eConfig } from '../support/e2e-config.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing, REDIS_URL } from '../support/services.js';
import { asyncClient, removeRedisKeys } from '../support/stratus-process.js';
import { until } from '../support/until.js';

const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts/console-storage');
const CHROMIUM = chromiumFor('the console storage test');

const RECEIVER = `export default async (event) => ({ type: event.type, subject: event.subject });`;
const DOOMED = `export default async (event) => {
  if (process.env.MODE === 'fail') throw new Error('failing on purpose with ' + JSON.stringify(event.data));
  return { ran: event.data };
};`;

/** An object whose script, if it ever ran with the dashboard's origin, would mark it and issue itself a key. */
const HOSTILE_OBJECT = `<!doctype html><html><head><title>hostile</title></head><body><script>
localStorage.setItem('owned', 'yes');
document.title = 'ran';
fetch('/ui/storage').then((r) => r.text()).then((t) => {
  const token = /csrf-token" content="([^"]+)"/.exec(t)[1];
  return fetch('/ui/storage/keys', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': token }, body: 'buckets=*&access=manage' });
});
</script></body></html>`;

describe.skipIf(!CHROMIUM || (await missing('docker', 'redis', 'registry', 'runtime-images')))('console storage and dead letters in headless Chromium (Docker, Redis, registry)', () => {
  const suffix = Date.now().toString(36);
  const names = { receiver: `on-console-${suffix}`, doomed: `doomed-${suffix}` };
  const bucket = `console-${suffix}`;
  let stateDir: string;
  let platform: RunningPlatform;
  let client: ReturnType<typeof asyncClient>;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let triggerId: string;
  const shot = (file: string) => page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true });
  const storageKeys = async () => ((await (await client.api('/v1/storage/keys')).json()) as { keys: Array<{ accessKeyId: string }> }).keys;

  beforeAll(async () => {
    await fs.mkdir(ARTIFACTS, { recursive: true });
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-console-storage-'));
    platform = await startPlatform(e2eConfig(stateDir), silentLogger);
    client = asyncClient(platform.url, platform.apiKey);
    const deploy = async (config: Record<string, unknown>, content: string) => {
      const res = await deployFunction(platform, config, { file: 'index.mjs', content });
      expect(res.status, await res.clone().text()).toBe(202);
      const body = (await res.json()) as { buildId: string; triggers?: Array<{ id: string }> };
      const build = await waitForBuild(platform, body.buildId);
      expect(build.status, build.error ?? '').toBe('succeeded');
      return body;
    };
    const [receiver] = await Promise.all([
      deploy({ name: names.receiver, runtime: 'node', triggers: [{ type: 'storage', bucket, events: ['s3:ObjectCreated:*'], filter: { suffix: '.jpg' } }] }, RECEIVER),
      deploy({ name: names.doomed, runtime: 'node', env: { MODE: 'fail' }, async: { maxAttempts: 2, backoffMs: 100 } }, DOOMED),
    ]);
    triggerId = receiver.triggers![0]!.id;
    browser = await launchChromium(CHROMIUM!);
    context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    await signIn(page, platform.url, platform.apiKey, '/ui/storage');
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    if (platform) {
      for (const name of Object.values(names)) await client.api(`/v1/functions/${name}`, { method: 'DELETE' });
      await platform.stop();
    }
    if (stateDir) {
      await removeRedisKeys(REDIS_URL, `${platformIdFor(stateDir)}:`);
      await fs.rm(stateDir, { recursive: true, force: true });
    }
  });

  it('creates a bucket and uploads an object from the page; the storage trigger runs the function', async () => {
    await page.fill('#create-bucket input[name=bucket]', bucket);
    await page.click('#create-bucket button');
    await page.waitForURL(new RegExp(`/ui/storage/b/${bucket}$`));
    expect(await page.textContent('.flash-ok')).toContain(`bucket ${bucket} is created`);

    await page.setInputFiles('#upload-file', { name: 'tabby cat.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('purr purr') });
    await page.click('#upload-form button');
    await page.waitForSelector('#objects tr[data-key="tabby cat.jpg"]', { timeout: 30_000 });
    expect(await page.textContent('#objects tr[data-key="tabby cat.jpg"]')).toContain('image/jpeg');
    await shot('bucket.png');

    // The console's upload raised the S3 API's object event: the trigger fired and the function ran.
    const fires = await until('a fire of the storage trigger', async () => {
      const f = ((await (await client.api(`/v1/functions/${names.receiver}/triggers/${triggerId}`)).json()) as { fires: TriggerFire[] }).fires;
      return f.length > 0 ? f : undefined;
    }, 30_000, 200);
    expect(fires[0]).toMatchObject({ key: 'tabby cat.jpg', result: 'queued' });
    const view = await client.until(fires[0]!.invocationId!, 'succeeded', 120_000);
    expect(view.status, JSON.stringify(view)).toBe('succeeded');
    expect(JSON.parse(view.result!.body)).toMatchObject({ type: 'dev.stratus.storage.ObjectCreated:Put', subject: 'tabby%20cat.jpg' });

    await page.goto(`${platform.url}/ui/functions/${names.receiver}`);
    const row = `#invocations tr[data-invocation="${fires[0]!.invocationId}"]`;
    await page.waitForSelector(row, { timeout: 30_000 });
    expect(await page.textContent(row)).toContain('storage');
    await shot('storage-trigger-fired.png');
  }, 180_000);

  it('issues an S3 key with its scope from the page, uses it with the AWS SDK, revokes it, and is refused after', async () => {
    await page.goto(`${platform.url}/ui/storage`);
    await page.fill('#key-buckets', bucket);
    await page.check('#issue-key input[value=write]');
    await page.click('#issue-key button');
    await page.waitForSelector('#new-secret-key');
    const accessKeyId = (await page.textContent('#new-access-key'))!.trim();
    const secretAccessKey = (await page.textContent('#new-secret-key'))!.trim();
    await shot('key-issued.png');

    const s3 = new S3Client({ endpoint: platform.storage!.url, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'from-sdk/notes.txt', Body: 'written with the console\'s key' }));
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      expect(listed.Contents?.map((o) => o.Key).sort()).toEqual(['from-sdk/notes.txt', 'tabby cat.jpg']);
      expect(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'tabby cat.jpg' }))).Body!.transformToString()).toBe('purr purr');
      // The scope holds: another bucket is not this key's.
      await expect(s3.send(new PutObjectCommand({ Bucket: `other-${suffix}`, Key: 'x', Body: 'x' }))).rejects.toMatchObject({ name: 'AccessDenied' });

      // Listed without its secret; revoked from the page.
      await page.goto(`${platform.url}/ui/storage`);
      const keyRow = `#storage-keys tr[data-key="${accessKeyId}"]`;
      expect(await page.textContent(keyRow)).toContain(`${bucket} · read, write`);
      expect(await page.content()).not.toContain(secretAccessKey);
      await shot('storage.png');
      await page.click(`${keyRow} button`);
      await expect.poll(() => page.textContent('.flash-ok')).toContain(`S3 key ${accessKeyId} is revoked`);
      expect(await page.$(keyRow)).toBeNull();
      await expect(s3.send(new ListObjectsV2Command({ Bucket: bucket }))).rejects.toMatchObject({ name: 'InvalidAccessKeyId' });
    } finally {
      s3.destroy();
    }
  }, 60_000);

  it('replays a dead letter, then all, from the page, and sees them run', async () => {
    const ids = [await client.submit(names.doomed, { n: 1 }), await client.submit(names.doomed, { n: 2 })];
    for (const id of ids) expect((await client.until(id, 'dead', 120_000)).status).toBe('dead');
    // Fixed (as an operator would fix the cause), then replayed from the console.
    const patched = await client.api(`/v1/functions/${names.doomed}`, { method: 'PATCH', body: JSON.stringify({ env: { MODE: 'ok' } }) });
    expect(patched.status, await patched.clone().text()).toBe(200);

    await page.goto(`${platform.url}/ui/functions/${names.doomed}`);
    await page.click('#dead-letters-link');
    await page.waitForURL(new RegExp(`/ui/functions/${names.doomed}/dead-letters$`));
    for (const id of ids) {
      const text = await page.textContent(`#dead-letters tr[data-invocation="${id}"]`);
      expect(text).toContain('FUNCTION_ERROR');
      expect(text).toContain('2 / 2');
    }
    expect(await page.textContent(`#dead-letters tr[data-invocation="${ids[0]}"]`)).toContain(`function ${names.doomed} answered 500`);
    await shot('dead-letters.png');

    await page.click(`#dead-letters tr[data-invocation="${ids[0]}"] button`);
    await page.waitForURL(new RegExp(`/ui/functions/${names.doomed}/invocations/${ids[0]}$`));
    expect(await page.textContent('.flash-ok')).toContain('queued again');
    const first = await client.until(ids[0]!, 'succeeded', 120_000);
    expect(first).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(JSON.parse(first.result!.body)).toEqual({ ran: { n: 1 } });
    await expect.poll(() => page.textContent('#invocation'), { timeout: 30_000 }).toContain('succeeded');
    expect(await page.textContent('#invocation-result')).toContain('"ran":{"n":1}');
    await shot('replayed.png');

    await page.goto(`${platform.url}/ui/functions/${names.doomed}/dead-letters`);
    expect(await page.$(`#dead-letters tr[data-invocation="${ids[0]}"]`)).toBeNull();
    await page.click('#replay-all button');
    await expect.poll(() => page.textContent('.flash-ok')).toContain('1 dead letter');
    expect((await client.until(ids[1]!, 'succeeded', 120_000)).status).toBe('succeeded');
    await page.reload();
    await page.waitForSelector('#no-dead-letters');
    await shot('dead-letters-replayed.png');
  }, 300_000);

  it('refuses a forged form from another origin for every new action', async () => {
    const key = (await (await client.api('/v1/storage/keys', { method: 'POST', body: JSON.stringify({ scope: { buckets: [bucket], access: ['read'] } }) })).json()) as { accessKeyId: string };
    const queued = await client.submit(names.doomed, { n: 3 }); // not dead (the function is fixed): the forged replay must still be refused first
    const actions: Array<[string, Record<string, string>]> = [
      ['/ui/storage/buckets', { bucket: `forged-${suffix}` }],
      [`/ui/storage/b/${bucket}/delete`, { confirm: bucket }],
      [`/ui/storage/b/${bucket}/objects/delete`, { key64: Buffer.from('tabby cat.jpg').toString('base64url') }],
      [`/ui/storage/b/${bucket}/upload?key=forged.html`, { body: '<script>alert(1)</script>' }],
      ['/ui/storage/keys', { buckets: '*', access: 'manage' }],
      [`/ui/storage/keys/${key.accessKeyId}/revoke`, {}],
      [`/ui/functions/${names.doomed}/dead-letters/replay`, {}],
      [`/ui/functions/${names.doomed}/dead-letters/${queued}/replay`, {}],
    ];
    const keysBefore = (await storageKeys()).length;
    const forger = http.createServer((req, res) => {
      const [action, fields] = actions[Number(new URL(req.url ?? '/', 'http://x').searchParams.get('i'))]!;
      const inputs = Object.entries(fields).map(([k, v]) => `<input name="${k}" value="${v.replace(/"/g, '&quot;').replace(/</g, '&lt;')}">`).join('');
      res.setHeader('content-type', 'text/html');
      res.end(`<form id="f" method="post" action="${platform.url}${action}">${inputs}</form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => forger.listen(0, '127.0.0.1', r));
    try {
      for (let i = 0; i < actions.length; i++) {
        const target = `${platform.url}${actions[i]![0]}`;
        const answer = page.waitForResponse((r) => r.url() === target && r.request().method() === 'POST');
        await page.goto(`http://127.0.0.1:${(forger.address() as AddressInfo).port}/?i=${i}`);
        expect((await answer).status(), actions[i]![0]).toBe(403);
        expect(await page.textContent('body'), actions[i]![0]).toContain('CSRF_REFUSED');
      }
    } finally {
      forger.close();
    }
    await shot('forged-refused.png');
    const s3 = platform.storage!.browser;
    expect((await s3.listBuckets()).map((b) => b.name)).toEqual([bucket]);
    await expect(s3.head(bucket, 'tabby cat.jpg')).resolves.toMatchObject({ size: 9 });
    await expect(s3.head(bucket, 'forged.html')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await storageKeys()).map((k) => k.accessKeyId)).toContain(key.accessKeyId);
    expect((await storageKeys()).length).toBe(keysBefore);
  }, 120_000);

  it('deletes, from the page, an object whose key holds line breaks, markup and "../"', async () => {
    const key = '../odd\r\nkey <b>x\n.txt'; // one "/" only: listed under the "../" folder
    await platform.storage!.browser.put(bucket, key, Readable.from([Buffer.from('odd')]), 'text/plain', 3);
    await page.goto(`${platform.url}/ui/storage/b/${bucket}?${new URLSearchParams({ prefix: '../' })}`);
    const row = page.locator('#objects tr', { hasText: 'odd' });
    expect(await row.locator('code').textContent()).toBe('../odd\u240d\u240akey <b>x\u240a.txt'); // line breaks shown, not folded
    expect(await page.$('#objects b')).toBeNull(); // the key's markup is text
    await row.locator('button').click();
    await expect.poll(() => page.textContent('.flash-ok')).toContain('is deleted from');
    await expect(platform.storage!.browser.head(bucket, key)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('saves a hostile HTML object as a download: it never runs with the dashboard\'s origin', async () => {
    const keysBefore = (await storageKeys()).length;
    await page.goto(`${platform.url}/ui/storage/b/${bucket}`);
    await page.setInputFiles('#upload-file', { name: 'hostile.html', mimeType: 'text/html', buffer: Buffer.from(HOSTILE_OBJECT) });
    await page.click('#upload-form button');
    const link = `#objects tr[data-key="hostile.html"] a.download`;
    await page.waitForSelector(link, { timeout: 30_000 });
    const href = (await page.getAttribute(link, 'href'))!;

    const [download] = await Promise.all([page.waitForEvent('download'), page.click(link)]);
    expect(download.suggestedFilename()).toBe('hostile.html');
    expect(await fs.readFile((await download.path())!, 'utf8')).toBe(HOSTILE_OBJECT);
    // Opened directly it is a download too, not a page.
    const direct = await context.newPage();
    const [again] = await Promise.all([direct.waitForEvent('download'), direct.goto(`${platform.url}${href}`).catch(() => null)]);
    expect(again.suggestedFilename()).toBe('hostile.html');
    await direct.close();

    const res = await page.request.get(`${platform.url}${href}`);
    expect(res.headers()).toMatchObject({ 'content-type': 'application/octet-stream', 'x-content-type-options': 'nosniff' });
    expect(res.headers()['content-disposition']).toMatch(/^attachment; filename="hostile\.html"/);
    expect(res.headers()['content-security-policy']).toMatch(/^sandbox\b/);

    await new Promise((r) => setTimeout(r, 1500)); // what a script that ran would have done by now
    expect(await page.title()).not.toBe('ran');
    expect(await page.evaluate(() => window.localStorage.getItem('owned'))).toBeNull();
    expect((await storageKeys()).length).toBe(keysBefore);
    await shot('hostile-download.png');
  }, 60_000);
});
