// The storage console (/ui/storage) over HTTP on the composition root's wiring (the gateway harness) with a
// real storage service on a temp dir: a signed-in session creates a bucket, uploads objects whose keys hold
// hostile bytes (markup, "../", spaces, unicode) and finds them listed escaped, linked by an encoded query and
// downloaded byte for byte as a sandboxed attachment; the upload raises the S3 API's own object event and is
// bounded by its size limit; S3 keys are issued with their scope (the secret once) and revoked; a form
// without the CSRF token or from another origin is refused for every new action; with storage off the page
// says so.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.js';
import type { StorageEvent } from '../../core/ports/storage-events.js';
import type { AsyncView } from '../../control/invocations/async-queue.js';
import { contentDisposition } from '../../gateway/ui/console/download.js';
import { deadLettersBody } from '../../gateway/ui/pages/dead-letters.js';
import { keyField } from '../../gateway/ui/pages/storage.js';
import type { Session } from '../../gateway/ui/sessions.js';
import { startStorage, type RunningStorage } from '../../services/storage/server.js';
import { API_KEY, startHarness, type Harness } from '../support/gateway-harness.js';

const MAX_OBJECT = 64 * 1024;
const HOSTILE_KEY = '../<script>alert("k")</script> é/naïve & co?.html';

interface Signed {
  cookie: string;
  csrf: string;
}

async function listen(h: Harness): Promise<{ base: string; close(): Promise<void> }> {
  const server = http.createServer(h.app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

async function signIn(base: string): Promise<Signed> {
  const res = await fetch(`${base}/ui/login`, { method: 'POST', redirect: 'manual', headers: { origin: base, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ key: API_KEY }) });
  expect(res.status).toBe(303);
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  const page = await (await fetch(`${base}/ui/storage`, { headers: { cookie, accept: 'text/html' } })).text();
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(page)![1]!;
  return { cookie, csrf };
}

describe('storage console', () => {
  let dir: string;
  let storage: RunningStorage;
  let h: Harness;
  let srv: { base: string; close(): Promise<void> };
  let s: Signed;
  const events: StorageEvent[] = [];
  const bucket = 'console-photos';

  const form = (p: string, body: Record<string, string | string[]>, extra: Record<string, string> = {}) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(body)) for (const x of [v].flat()) params.append(k, x);
    return fetch(`${srv.base}${p}`, { method: 'POST', redirect: 'manual', headers: { cookie: s.cookie, origin: srv.base, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', ...extra }, body: params });
  };
  const upload = (key: string, body: Buffer | string, extra: Record<string, string> = {}) =>
    fetch(`${srv.base}/ui/storage/b/${bucket}/upload?${new URLSearchParams({ key, type: 'text/html' })}`, { method: 'POST', headers: { cookie: s.cookie, origin: srv.base, accept: 'application/json', 'x-csrf-token': s.csrf, 'content-type': 'application/octet-stream', ...extra }, body });
  const get = (p: string) => fetch(`${srv.base}${p}`, { headers: { cookie: s.cookie, accept: 'text/html' } });
  const flash = async () => /<p class="flash flash-(ok|error)" role="status">([^<]*)<\/p>/.exec(await (await get('/ui/storage')).text())?.slice(1);

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-console-storage-'));
    storage = await startStorage({ stateDir: dir, host: '127.0.0.1', port: 0, maxObjectBytes: MAX_OBJECT }, silentLogger);
    storage.events.onObject((e) => void events.push(e));
    h = await startHarness({}, { storage });
    srv = await listen(h);
    s = await signIn(srv.base);
  });

  afterAll(async () => {
    await srv?.close();
    await h?.close();
    await storage?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('creates a bucket from the form, and refuses a bad name with the storage\'s own message', async () => {
    const made = await form('/ui/storage/buckets', { _csrf: s.csrf, bucket });
    expect(made.status).toBe(303);
    expect(made.headers.get('location')).toBe(`/ui/storage/b/${bucket}`);
    expect(await storage.browser.listBuckets()).toEqual([expect.objectContaining({ name: bucket })]);
    const bad = await form('/ui/storage/buckets', { _csrf: s.csrf, bucket: 'Not_A<Bucket>' });
    expect(bad.status).toBe(303);
    const [kind, text] = (await flash())!;
    expect(kind).toBe('error');
    expect(text).toContain('3-63 characters of a-z');
  });

  it('uploads a hostile key, raises ObjectCreated:Put, lists it escaped and downloads it as a sandboxed attachment', async () => {
    const content = '<!doctype html><script>parent.document.title = "owned"</script>';
    const res = await upload(HOSTILE_KEY, content);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(events.at(-1)).toMatchObject({ name: 'ObjectCreated:Put', bucket, key: HOSTILE_KEY, size: Buffer.byteLength(content) });

    // Listed by "folder": the prefix up to its last "/" holds markup, quotes and "../" too.
    const top = await (await get(`/ui/storage/b/${bucket}?${new URLSearchParams({ prefix: '../' })}`)).text();
    expect(top).toContain('../&lt;script&gt;alert(&quot;k&quot;)&lt;/</a>');
    const page = await (await get(`/ui/storage/b/${bucket}?${new URLSearchParams({ prefix: HOSTILE_KEY.slice(0, HOSTILE_KEY.lastIndexOf('/') + 1) })}`)).text();
    expect(page).not.toContain('<script>alert');
    expect(page).toContain('&lt;script&gt;alert(&quot;k&quot;)&lt;/script&gt;');
    // The folder link and the download link carry the key as an encoded query value, nothing else.
    const link = /<a class="download" href="([^"]+)"/.exec(page)![1]!.replace(/&amp;/g, '&');
    expect(new URL(link, srv.base).searchParams.get('key')).toBe(HOSTILE_KEY);
    expect(new URL(link, srv.base).pathname).toBe(`/ui/storage/b/${bucket}/object`);

    const dl = await get(link);
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-disposition')).toMatch(/^attachment; /);
    expect(dl.headers.get('content-type')).toBe('application/octet-stream');
    expect(dl.headers.get('x-content-type-options')).toBe('nosniff');
    expect(dl.headers.get('content-security-policy')).toMatch(/^sandbox\b/);
    expect(await dl.text()).toBe(content);
  });

  it('names a download after its key\'s last segment, safely in both header forms', () => {
    expect(contentDisposition('a/b/report 1.pdf')).toBe(`attachment; filename="report 1.pdf"; filename*=UTF-8''report%201.pdf`);
    expect(contentDisposition('x/"q\\é.txt')).toBe(`attachment; filename="_q__.txt"; filename*=UTF-8''%22q%5C%C3%A9.txt`);
    expect(contentDisposition('../..')).toBe(`attachment; filename="download"; filename*=UTF-8''download`);
    expect(contentDisposition('dir/')).toBe(`attachment; filename="dir"; filename*=UTF-8''dir`);
    expect(contentDisposition('a\r\nSet-Cookie: x=1')).not.toMatch(/[\r\n]/);
  });

  it('pages through a prefix, and refuses an upload past the S3 bound without storing it', async () => {
    for (let i = 0; i < 3; i++) expect((await upload(`page/${i} file`, `n${i}`)).status).toBe(200);
    const listed = await storage.browser.list(bucket, { prefix: 'page/', limit: 2 });
    expect(listed.objects.map((o) => o.key)).toEqual(['page/0 file', 'page/1 file']);
    const rest = await storage.browser.list(bucket, { prefix: 'page/', limit: 2, after: listed.next });
    expect(rest).toMatchObject({ objects: [expect.objectContaining({ key: 'page/2 file' })], next: undefined });

    const before = events.length;
    const held = storage.browser.usedIn(bucket);
    const big = await upload('too-big.bin', Buffer.alloc(MAX_OBJECT + 1));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { code: string; detail: string })).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', detail: expect.stringContaining(`${MAX_OBJECT} bytes`) });
    await expect(storage.browser.head(bucket, 'too-big.bin')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // A body without a declared length is cut at the first byte past the bound, before anything is visible.
    const chunks = Readable.from([Buffer.alloc(MAX_OBJECT / 2), Buffer.alloc(MAX_OBJECT / 2), Buffer.alloc(1)]);
    await expect(storage.browser.put(bucket, 'too-big.bin', chunks, 'application/octet-stream', undefined)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    await expect(storage.browser.head(bucket, 'too-big.bin')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(storage.browser.usedIn(bucket)).toBe(held); // the refused writes' reservations were given back
    expect(events.length).toBe(before);
  });

  it('pages the bucket\'s listing 100 at a time through a Next link that keeps the prefix', async () => {
    for (let i = 0; i < 101; i++) await storage.browser.put(bucket, `many/${String(i).padStart(3, '0')}`, Readable.from([Buffer.from('x')]), 'text/plain', 1);
    const first = await (await get(`/ui/storage/b/${bucket}?prefix=many%2F`)).text();
    expect(first.match(/<tr data-key="many\//g)?.length).toBe(100);
    const next = /<a id="next-page" href="([^"]+)"/.exec(first)![1]!.replace(/&amp;/g, '&');
    expect(new URL(next, srv.base).searchParams.get('prefix')).toBe('many/');
    const second = await (await get(next)).text();
    expect([...second.matchAll(/<tr data-key="([^"]+)"/g)].map((m) => m[1])).toEqual(['many/100']);
    expect(second).not.toContain('id="next-page"');
    const bad = await get(`/ui/storage/b/${bucket}?after=%25%25`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('continuation token');
  });

  it('deletes an object by its key (ObjectRemoved:Delete), then refuses to delete it twice', async () => {
    const del = await form(`/ui/storage/b/${bucket}/objects/delete`, { _csrf: s.csrf, key64: keyField(HOSTILE_KEY) });
    expect(del.status).toBe(303);
    expect(events.at(-1)).toMatchObject({ name: 'ObjectRemoved:Delete', key: HOSTILE_KEY });
    await form(`/ui/storage/b/${bucket}/objects/delete`, { _csrf: s.csrf, key64: keyField(HOSTILE_KEY) });
    expect((await flash())![1]).toContain('no object');
    await form(`/ui/storage/b/${bucket}/objects/delete`, { _csrf: s.csrf, key64: 'not base64url!' });
    expect((await flash())![1]).toContain('key64: not an object key as the page encodes it');
  });

  it('issues an S3 key with its scope, shows the secret once, lists it without, and revokes it', async () => {
    const bad = await form('/ui/storage/keys', { _csrf: s.csrf, buckets: 'photos', access: 'own' });
    expect(bad.status).toBe(303);
    expect((await flash())![1]).toContain('each right is one of');

    const issued = await form('/ui/storage/keys', { _csrf: s.csrf, buckets: `${bucket}, logs-*`, access: ['read', 'write'] });
    expect(issued.status).toBe(201);
    const page = await issued.text();
    const id = /id="new-access-key">([^<]+)</.exec(page)![1]!;
    const secret = /id="new-secret-key">([^<]+)</.exec(page)![1]!;
    expect(storage.keys.secretOf(id)).toBe(secret);
    expect(storage.keys.scopeOf(id)).toEqual({ buckets: [bucket, 'logs-*'], access: ['read', 'write'] });
    const listing = await (await get('/ui/storage')).text();
    expect(listing).toContain(id);
    expect(listing).not.toContain(secret);

    expect((await form(`/ui/storage/keys/${id}/revoke`, { _csrf: s.csrf })).status).toBe(303);
    expect(storage.keys.secretOf(id)).toBeUndefined();
  });

  it('refuses every new action without the CSRF token or from another origin', async () => {
    const key = await storage.keys.create({ buckets: ['*'], access: ['read'] });
    await storage.browser.createBucket('keep-me');
    const actions: Array<[string, Record<string, string>]> = [
      ['/ui/storage/buckets', { bucket: 'forged-bucket' }],
      ['/ui/storage/b/keep-me/delete', { confirm: 'keep-me' }],
      [`/ui/storage/b/${bucket}/objects/delete`, { key64: keyField('page/0 file') }],
      ['/ui/storage/keys', { buckets: '*', access: 'manage' }],
      [`/ui/storage/keys/${key.accessKeyId}/revoke`, {}],
      ['/ui/functions/any/dead-letters/replay', {}],
      ['/ui/functions/any/dead-letters/0190/replay', {}],
    ];
    const keys = storage.keys.list().length;
    for (const [p, body] of actions) {
      const noToken = await form(p, body);
      expect(noToken.status, p).toBe(403);
      const elsewhere = await form(p, { ...body, _csrf: s.csrf }, { origin: 'http://evil.example' });
      expect(elsewhere.status, p).toBe(403);
      expect(await elsewhere.text(), p).toContain('CSRF_REFUSED');
    }
    const forgedUpload = await upload('forged.txt', 'x', { origin: 'http://evil.example' });
    expect(forgedUpload.status).toBe(403);
    expect((await fetch(`${srv.base}/ui/storage/b/${bucket}/upload?key=x`, { method: 'POST', headers: { cookie: s.cookie, origin: srv.base, 'content-type': 'application/octet-stream' }, body: 'x' })).status).toBe(403);
    expect((await storage.browser.listBuckets()).map((b) => b.name)).toEqual([bucket, 'keep-me']);
    expect(storage.keys.list().length).toBe(keys);
    await expect(storage.browser.head(bucket, 'page/0 file')).resolves.toMatchObject({ size: 2 });
    await expect(storage.browser.head(bucket, 'forged.txt')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('answers nothing without the session', async () => {
    for (const p of ['/ui/storage', `/ui/storage/b/${bucket}`, `/ui/storage/b/${bucket}/object?key=page%2F0%20file`]) {
      const res = await fetch(`${srv.base}${p}`, { redirect: 'manual', headers: { accept: 'text/html' } });
      expect(res.status, p).toBe(303);
      expect(res.headers.get('location'), p).toMatch(/^\/ui\/login\?next=/);
    }
  });
});

describe('dead letters page', () => {
  it('shows each letter\'s last error as text, and links and forms by the encoded id', () => {
    const letter: AsyncView = {
      id: '0190"><img src=x onerror=alert(1)>', function: 'f', trigger: 'storage', status: 'dead', attempts: 3, maxAttempts: 3, result: null,
      error: { code: 'FUNCTION_ERROR', message: '<script>alert("e")</script>' }, timings: { queuedAt: new Date().toISOString(), startedAt: null, finishedAt: null },
    };
    const out = deadLettersBody('f', [letter], { csrf: 'tok', createdAt: 0, flash: null } satisfies Session, Date.now()).value;
    expect(out).not.toMatch(/<script>alert|<img /);
    expect(out).toContain('&lt;script&gt;alert(&quot;e&quot;)&lt;/script&gt;');
    expect(out).toContain(`action="/ui/functions/f/dead-letters/${encodeURIComponent(letter.id)}/replay"`);
    expect(out).toContain('id="replay-all"');
    expect(deadLettersBody('f', [], { csrf: 'tok', createdAt: 0, flash: null }, Date.now()).value).toContain('id="no-dead-letters"');
  });
});

describe('storage console with storage off', () => {
  it('says the storage is off, and its actions answer so', async () => {
    const h = await startHarness();
    const srv = await listen(h);
    try {
      const s = await signIn(srv.base);
      const page = await (await fetch(`${srv.base}/ui/storage`, { headers: { cookie: s.cookie, accept: 'text/html' } })).text();
      expect(page).toContain('id="storage-off"');
      expect(page).toContain('STRATUS_S3_PORT=off');
      const res = await fetch(`${srv.base}/ui/storage/buckets`, { method: 'POST', headers: { cookie: s.cookie, origin: srv.base, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: s.csrf, bucket: 'b-1' }) });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { detail: string }).detail).toContain('STRATUS_S3_PORT=off');
    } finally {
      await srv.close();
      await h.close();
    }
  });
});
