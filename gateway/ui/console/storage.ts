// The storage console under /ui/storage: buckets and objects through the storage's in-process browser
// (services/storage/browser.ts: the S3 API's store, quotas, size bound and object events), S3 keys through
// the issuer /v1/storage/keys uses. Mounted after the session check, so every action here has passed the
// session, CSRF token and origin rules (guard.ts).
//
// A download is anyone's content served from the dashboard's own origin: it goes out as an attachment, as
// octet-stream, with nosniff and a sandbox CSP, so a browser saves it and never renders or runs it as a page
// of this origin (an HTML object with a script could otherwise act with the operator's session).
// An upload is the raw body of a fetch by the page's script (application/octet-stream: express's form and
// JSON parsers leave it alone, so it streams to the disk under the S3 endpoint's own bound).

import { pipeline } from 'node:stream/promises';
import express, { type Request, type Response, type Router } from 'express';
import { StratusError } from '../../../core/errors.js';
import type { StorageBrowser } from '../../../services/storage/browser.js';
import { parseKeyRequest } from '../../../services/storage/scope.js';
import type { DashboardDeps } from '../deps.js';
import { answerPage, type PageOptions } from '../layout.js';
import { bucketBody, bucketPath, keyField, keyIssuedBody, storageBody, storageOffBody } from '../pages/storage.js';
import { setFlash, type Session } from '../sessions.js';
import { consoleAction, field, fields, queryParam } from './action.js';
import { contentDisposition } from './download.js';

const PAGE_SIZE = 100;

export function storageConsole(d: DashboardDeps): Router {
  const router = express.Router();
  const session = (res: Response) => res.locals.uiSession as Session;
  const show = (res: Response, status: number, title: string, body: PageOptions['body']) => answerPage(res, status, { title, session: session(res), body, nav: 'storage' });
  const storage = d.storage;
  const browser: StorageBrowser | undefined = storage?.browser;
  const need = (): StorageBrowser => {
    if (!browser) throw new StratusError('NOT_FOUND', 'the built-in S3 storage is off on this platform (STRATUS_S3_PORT=off)');
    return browser;
  };
  const bucketOf = (req: Request) => String(req.params.bucket);
  const act = (back: (req: Request) => string, run: Parameters<typeof consoleAction>[2]) => consoleAction(d.logger, back, run);
  const home = () => '/ui/storage';
  const inBucket = (req: Request) => bucketPath(bucketOf(req));

  router.get('/storage', async (_req, res) => {
    if (!storage || !browser) return await show(res, 200, 'Storage', storageOffBody());
    const buckets = (await browser.listBuckets()).map((b) => ({ ...b, used: browser.usedIn(b.name) }));
    await show(res, 200, 'Storage', storageBody({ buckets, keys: storage.keys.list(), endpoint: storage.url, session: session(res), now: d.clock.now() }));
  });

  router.get('/storage/b/:bucket', async (req, res) => {
    const b = need();
    const bucket = bucketOf(req);
    const prefix = queryParam(req, 'prefix') ?? '';
    const listed = await b.list(bucket, { prefix, delimiter: '/', after: queryParam(req, 'after') || undefined, limit: PAGE_SIZE });
    await show(res, 200, bucket, bucketBody({ bucket, prefix, listed, maxObjectBytes: b.maxObjectBytes, session: session(res), now: d.clock.now() }));
  });

  router.get('/storage/b/:bucket/object', async (req, res) => {
    const key = requiredKey(queryParam(req, 'key'));
    const { meta, body } = await need().open(bucketOf(req), key);
    res.status(200).set({
      'content-type': 'application/octet-stream',
      'content-length': String(meta.size),
      'content-disposition': contentDisposition(key),
      'x-content-type-options': 'nosniff',
      'content-security-policy': "sandbox; default-src 'none'; frame-ancestors 'none'",
    });
    await pipeline(body, res);
  });

  router.post('/storage/buckets', act(home, async (req) => {
    const bucket = (field(req, 'bucket') ?? '').trim();
    if (!bucket) throw new StratusError('INVALID_REQUEST', 'bucket: give the new bucket\'s name', { field: 'bucket' });
    await need().createBucket(bucket);
    return { text: `bucket ${bucket} is created`, to: bucketPath(bucket) };
  }));

  router.post('/storage/b/:bucket/delete', act(inBucket, async (req) => {
    const bucket = bucketOf(req);
    if (field(req, 'confirm') !== bucket) throw new StratusError('INVALID_REQUEST', `type the bucket's name, ${bucket}, to delete it`, { field: 'confirm' });
    await need().deleteBucket(bucket);
    return { text: `bucket ${bucket} is deleted`, to: home() };
  }));

  router.post('/storage/b/:bucket/upload', act(inBucket, async (req) => {
    const bucket = bucketOf(req);
    const key = requiredKey(queryParam(req, 'key'));
    const type = queryParam(req, 'type') || 'application/octet-stream';
    if (type.length > 255 || !/^[\w.+-]+\/[\w.+-]+$/.test(type)) throw new StratusError('INVALID_REQUEST', 'type: a media type such as text/plain', { field: 'type' });
    const meta = await need().put(bucket, key, req, type, declaredLength(req));
    return { text: `${key} is uploaded to ${bucket} (${meta.size} bytes)` };
  }));

  router.post('/storage/b/:bucket/objects/delete', act(inBucket, async (req) => {
    const bucket = bucketOf(req);
    const key = requiredKey(fromKeyField(field(req, 'key64')));
    if (!(await need().delete(bucket, key))) throw new StratusError('NOT_FOUND', `no object ${JSON.stringify(key.slice(0, 200))} in ${bucket}`);
    return { text: `${key} is deleted from ${bucket}` };
  }));

  router.post('/storage/keys', async (req, res) => {
    if (!storage) throw new StratusError('NOT_FOUND', 'the built-in S3 storage is off on this platform (STRATUS_S3_PORT=off)');
    let scope;
    try {
      const buckets = (field(req, 'buckets') ?? '').split(/[\s,]+/).filter(Boolean);
      scope = parseKeyRequest({ scope: { buckets, access: fields(req, 'access') } });
    } catch (err) {
      // The API's own check and message, without its hint about the JSON body (this is a form).
      if (!(err instanceof StratusError)) throw err;
      await setFlash(res, { kind: 'error', text: err.message.split('; send {')[0]!.replace(/^body\.scope\./, '') });
      return res.redirect(303, home());
    }
    const key = await storage.keys.create(scope);
    // Answered here, not after a redirect: the secret is in this one answer (no-store) and nowhere else.
    await show(res, 201, 'S3 key issued', keyIssuedBody(key, storage.url));
  });

  router.post('/storage/keys/:id/revoke', act(home, async (req) => {
    if (!storage) throw new StratusError('NOT_FOUND', 'the built-in S3 storage is off on this platform (STRATUS_S3_PORT=off)');
    const id = String(req.params.id);
    if (!(await storage.keys.revoke(id))) throw new StratusError('NOT_FOUND', `no S3 key ${JSON.stringify(id.slice(0, 100))}`);
    return { text: `S3 key ${id} is revoked: requests signed with it are refused from now on` };
  }));

  return router;
}

function requiredKey(key: string | undefined): string {
  if (!key) throw new StratusError('INVALID_REQUEST', 'key: name the object (its key may hold any characters)', { field: 'key' });
  return key;
}

/** The key a form carried as keyField made it; a value that is not exactly such an encoding is refused. */
function fromKeyField(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const key = Buffer.from(value, 'base64url').toString('utf8');
  if (keyField(key) !== value) throw new StratusError('INVALID_REQUEST', 'key64: not an object key as the page encodes it (base64url of its UTF-8); reload the page', { field: 'key64' });
  return key;
}

function declaredLength(req: Request): number | undefined {
  const text = req.headers['content-length'];
  return typeof text === 'string' && /^\d{1,16}$/.test(text) ? Number(text) : undefined;
}
