// The S3 endpoint: its own HTTP server on STRATUS_S3_PORT. S3 clients expect an endpoint of their own whose
// path starts with the bucket (path-style): under a prefix of the API port, SDKs would sign and address
// `/prefix/bucket/key` wrongly unless each client were configured with a custom path. Every request is
// checked with SigV4 before anything else; every failure answers S3's XML error document.

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Logger } from '../../core/log.js';
import { authorize } from './access.js';
import { BucketOps } from './bucket-ops.js';
import { StorageBrowser } from './browser.js';
import { StorageEventHub } from './events.js';
import { S3Error } from './errors.js';
import { type S3Request } from './http-util.js';
import { AccessKeys } from './keys.js';
import { MultipartOps } from './multipart-ops.js';
import { Multipart } from './multipart.js';
import { StorageUsage, type QuotaSettings } from './quota.js';
import { UploadExpiry } from './upload-expiry.js';
import { ObjectOps } from './object-ops.js';
import { ObjectStore } from './object-store.js';
import { route, splitPath, type Ops } from './router.js';
import { parseQuery, verifyRequest } from './sigv4.js';
import { errorXml } from './xml.js';
import { listenOn } from '../../core/listen.js';
import type { StorageEvents } from '../../core/ports/storage-events.js';

export interface StorageSettings {
  stateDir: string;
  host: string;
  /** 0: an ephemeral port (tests). */
  port: number;
  maxObjectBytes: number;
  /** Unfinished multipart uploads are removed this long after they began (default 7 days). */
  uploadExpiryMs?: number;
  /** Bytes per bucket and in all (default: none). */
  quota?: QuotaSettings;
}

const DEFAULT_UPLOAD_EXPIRY_MS = 7 * 86_400_000;

export interface RunningStorage {
  /** The endpoint an S3 client is given, e.g. http://127.0.0.1:9000. */
  url: string;
  keys: AccessKeys;
  events: StorageEvents;
  /** Where objects live (tests look inside). */
  root: string;
  /** Bytes held per bucket and in all, as the quotas count them. */
  usage: StorageUsage;
  /** Buckets and objects for the dashboard, in process, with the same bounds and object events as the S3 API. */
  browser: StorageBrowser;
  close(): Promise<void>;
}

export async function startStorage(settings: StorageSettings, logger: Logger, now: () => Date = () => new Date()): Promise<RunningStorage> {
  const log = logger.child({ component: 'storage' });
  const usage = new StorageUsage(settings.quota);
  const objects = new ObjectStore(settings.stateDir, usage);
  await objects.init();
  const nowMs = () => now().getTime();
  const multipart = new Multipart(objects, { maxObjectBytes: settings.maxObjectBytes, expiryMs: settings.uploadExpiryMs ?? DEFAULT_UPLOAD_EXPIRY_MS, now: nowMs });
  await multipart.init();
  const keys = new AccessKeys(settings.stateDir);
  await keys.load();
  const events = new StorageEventHub(log);
  const objectOps = new ObjectOps(objects, events, settings.maxObjectBytes);
  const ops: Ops = { buckets: new BucketOps(objects, multipart), objects: objectOps, multipart: new MultipartOps(multipart, objectOps, settings.maxObjectBytes) };
  const browser = new StorageBrowser(objects, objectOps, multipart, settings.maxObjectBytes);

  // No bound on a whole request (Node's default 5 min would cut a large upload on a slow link); a socket
  // that moves no byte for 2 minutes is closed instead, and headers must still arrive within a minute.
  const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
    void handle(req, res, ops, keys, log, now);
  });
  server.setTimeout(120_000, (socket) => socket.destroy());
  const port = await listenOn(server, settings.port, settings.host, 'STRATUS_S3_PORT (or "off")');
  const url = `http://${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${port}`;
  log.info(`S3-compatible storage is listening on ${url} (path-style; keys from POST /v1/storage/keys)`);
  const expiry = new UploadExpiry(multipart, log);
  expiry.start();

  return {
    url,
    keys,
    events,
    root: objects.root,
    usage,
    browser,
    close: async () => {
      events.clear();
      await expiry.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, ops: Ops, keys: AccessKeys, log: Logger, now: () => Date): Promise<void> {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  res.setHeader('x-amz-request-id', requestId);
  // Objects are anyone's content, and this endpoint is on the dashboard's host (cookies ignore ports): a
  // browser opening one (a presigned link) runs none of its scripts, in an opaque origin that can set no
  // cookie and register no worker; nosniff keeps an object from being read as a script of another type.
  res.setHeader('content-security-policy', 'sandbox');
  res.setHeader('x-content-type-options', 'nosniff');
  const rawUrl = req.url ?? '/';
  const qAt = rawUrl.indexOf('?');
  const rawPath = qAt === -1 ? rawUrl : rawUrl.slice(0, qAt);
  try {
    const query = parseQuery(qAt === -1 ? '' : rawUrl.slice(qAt + 1));
    const { bucket, key } = splitPath(rawPath);
    const verified = await verifyRequest(req, rawPath, query, keys, now());
    const scope = keys.scopeOf(verified.accessKeyId);
    authorize(scope, req, bucket, key, query);
    const r: S3Request = { req, res, bucket, key, query, payload: verified.payload, scope };
    await route(r, ops);
  } catch (err) {
    answerError(err, req, res, rawPath, requestId, log);
  }
}

function answerError(err: unknown, req: http.IncomingMessage, res: http.ServerResponse, resource: string, requestId: string, log: Logger): void {
  const s3 = err instanceof S3Error ? err : null;
  if (!s3) {
    // A client gone mid-stream is not our failure; anything else is logged with the request id.
    if (!(req.destroyed && res.destroyed)) log.error('storage request failed', { requestId, method: req.method, err });
  }
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const e = s3 ?? new S3Error('InternalError', 'We encountered an internal error. Please try again.');
  const xml = req.method === 'HEAD' ? '' : errorXml(e, resource, requestId);
  // A body we did not read (a refused upload): answer, then close rather than read megabytes to discard.
  if (!req.complete) res.setHeader('connection', 'close');
  res.writeHead(e.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
  res.end(xml);
  if (!req.complete) req.resume();
}
