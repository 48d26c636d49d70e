// Platform configuration: every setting is a STRATUS_* environment variable, parsed and validated once
// at start. Nothing else in the code base reads process.env (lint enforces it); components receive the
// slice of Config they need through their constructors.

import path from 'node:path';
import proxyAddr from 'proxy-addr';
import { z } from 'zod';
import { StratusError } from './errors.js';
import { functionsOrigin, functionsUrl, hostsOverlap, type FunctionsOrigin } from './function-origin.js';
import { networkList } from './ip-policy.js';
import { platformIdFor } from './platform-id.js';
import { linkHint, serviceLinkNames } from './service-links.js';
import { StateLayout } from './state-layout.js';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);
const num = (def: number, min: number, max: number) => z.coerce.number().min(min).max(max).default(def);
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
/** A price as a decimal string: kept as written, so cost is computed from exact integers (core/store/usage-report.ts). */
const price = z.string().regex(/^\d{1,9}(\.\d{1,12})?$/, 'use a decimal number such as 0.0000166667 (up to 12 decimals, no exponent)');
const splitList = (s: string) => s.split(',').map((a) => a.trim()).filter((a) => a !== '');
const emailList = (s: string, ctx: z.RefinementCtx) => {
  const list = splitList(s);
  const bad = list.find((a) => !z.email().safeParse(a).success);
  if (list.length === 0 || bad !== undefined) ctx.addIssue({ code: 'custom', message: `${bad === undefined ? 'no address given' : `"${bad}" is not an email address`}; give a comma-separated list of addresses` });
};

/** What proxy-addr (gateway/api/client-address.ts) compiles: addresses, CIDRs and its names for ranges. */
const proxyList = (s: string, ctx: z.RefinementCtx) => {
  try {
    proxyAddr.compile(splitList(s));
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `${(err as Error).message}; give a comma-separated list of addresses or CIDRs (e.g. 127.0.0.1,10.0.0.0/8), or loopback, linklocal, uniquelocal` });
  }
};

const schema = z
  .object({
    STRATUS_PORT: int(8080, 0, 65535),
    STRATUS_HOST: z.string().default('127.0.0.1'),
    STRATUS_API_KEY: z.string().min(16, 'use at least 16 characters').optional(),
    STRATUS_STATE_DIR: z.string().default('.stratus'),
    /**
     * Which Stratus this is: every replica of one platform sets the same value (its instances' label, the
     * default Redis key prefix and image prefix). Unset: derived from the state dir, as one process needs.
     */
    STRATUS_PLATFORM_ID: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 characters of a-z, 0-9 and "-", starting with a letter or digit').optional(),
    STRATUS_PUBLIC_URL: z.string().url().optional(),
    /**
     * Where function content is served: each function at its own host under this one (NAME.fn.localhost,
     * ALIAS.NAME.fn.localhost), an origin that shares no cookies and no site with the API and dashboard.
     * Default http://fn.localhost with the port each request came in on; see gateway/dataplane/origins.ts.
     */
    STRATUS_FUNCTIONS_URL: functionsUrl.optional(),

    STRATUS_STORE: z.enum(['auto', 'redis', 'memory']).default('auto'),
    STRATUS_REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    /** Prefix of every key and channel this platform uses in Redis; default: derived from the state dir. */
    STRATUS_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, 'use 1-100 of A-Z, a-z, 0-9, ".", "_", ":", "-" (glob characters would make one prefix match another\'s keys)').optional(),
    /** How long start-up waits for a configured Redis or Docker to answer; 0: as long as it takes. */
    STRATUS_SERVICE_WAIT_MS: int(0, 0, 86_400_000),
    /** How long a stop (SIGTERM/SIGINT) may drain invocations and builds before the process exits anyway. */
    STRATUS_STOP_TIMEOUT_MS: int(60_000, 1000, 86_400_000),
    /**
     * SIGTERM: how long readiness (GET /readyz) answers 503 while calls are still served, so a load balancer's
     * health checks take this replica out before it stops taking calls. 0: no notice (nothing balances onto it).
     */
    STRATUS_DRAIN_NOTICE_MS: int(0, 0, 600_000),
    /** Wrong admin keys (sign-in and /v1 together) one client may send per window before it waits for the window's end. */
    STRATUS_AUTH_MAX_FAILURES: int(10, 1, 10_000),
    STRATUS_AUTH_WINDOW_MS: int(60_000, 1000, 86_400_000),
    /** Proxies whose X-Forwarded-For names the client (addresses, CIDRs, or loopback / linklocal / uniquelocal); unset: the header is ignored. */
    STRATUS_TRUSTED_PROXIES: z.string().superRefine(proxyList).transform(splitList).optional(),

    STRATUS_BACKEND: z.enum(['auto', 'docker', 'process', 'kubernetes']).default('auto'),
    /**
     * Who serves warm function calls: HAProxy programmed by Stratus (native), or Stratus's Node proxy (node).
     * auto: native when HAProxy is installed and the backend is Docker, else node (said at start).
     */
    STRATUS_DATA_PLANE: z.enum(['auto', 'native', 'node']).default('auto'),
    /** The most function versions HAProxy serves at once (its pre-created slot backends); more go through Stratus. */
    STRATUS_NATIVE_SLOTS: int(64, 1, 4096),
    STRATUS_DOCKER_SOCKET: z.string().default('/var/run/docker.sock'),
    STRATUS_REGISTRY: z.string().default('127.0.0.1:5000'),
    STRATUS_IMAGE_PREFIX: z.string().regex(/^[a-z0-9][a-z0-9._/-]*$/).optional(),
    STRATUS_RUNTIME_IMAGE_NODE: z.string().default('stratus/runtime-node:latest'),
    STRATUS_RUNTIME_IMAGE_PYTHON: z.string().default('stratus/runtime-python:latest'),
    /** Images of the newest versions kept per function; older ones no alias uses are deleted (builder/image-retention.ts). */
    STRATUS_IMAGES_KEPT: int(5, 0, 10_000),
    STRATUS_FUNCTION_UID: int(10001, 1, 2 ** 31 - 1),
    STRATUS_INSTANCE_PIDS_LIMIT: int(256, 16, 1_000_000),
    STRATUS_CPU_SHARES: int(512, 2, 262_144),
    STRATUS_K8S_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes namespace name (a-z, 0-9, "-")').default('stratus'),
    /** kubeconfig context to use; unset: the current context (or the in-cluster service account). */
    STRATUS_K8S_CONTEXT: z.string().min(1).optional(),
    /**
     * Where function instances reach Stratus (its code route, for stems): on Kubernetes the gateway Service,
     * e.g. http://stratus-gateway.stratus.svc:8080. Unset on Kubernetes: no stems (a cold start is a pod start).
     */
    STRATUS_INTERNAL_URL: httpUrl.optional(),
    /** Docker: how a stem gets its code — hard links into its mounted dir, or a signed URL fetched through a unix socket. */
    STRATUS_STEM_CODE: z.enum(['link', 'http']).default('link'),

    STRATUS_BUILD_CONCURRENCY: int(2, 1, 64),
    STRATUS_BUILD_TIMEOUT_MS: int(600_000, 10_000, 3_600_000),
    /** Extra CA certificates (PEM) passed into builds so dependency installs work behind an intercepting proxy. */
    STRATUS_BUILD_CA_FILE: z.string().optional(),
    NODE_EXTRA_CA_CERTS: z.string().optional(),
    STRATUS_MAX_UPLOAD_MB: int(50, 1, 4096),
    STRATUS_MAX_UNPACKED_MB: int(500, 1, 65536),
    STRATUS_MAX_ARCHIVE_ENTRIES: int(20_000, 1, 1_000_000),
    STRATUS_MAX_COMPRESSION_RATIO: int(200, 2, 100_000),

    STRATUS_STEM_POOL_SIZE: int(2, 0, 100),
    /** A runtime no deployed version uses and no call specialized a stem of for this long has its stems stopped. */
    STRATUS_STEM_IDLE_MS: int(600_000, 0, 30 * 86_400_000),
    STRATUS_QUEUE_DEPTH: int(100, 0, 100_000),
    STRATUS_QUEUE_TIMEOUT_MS: int(10_000, 0, 900_000),
    STRATUS_AUTOSCALE_TICK_MS: int(1000, 50, 60_000),
    STRATUS_STABLE_WINDOW_MS: int(60_000, 1000, 3_600_000),
    STRATUS_PANIC_WINDOW_MS: int(6000, 100, 600_000),
    STRATUS_TARGET_UTILIZATION: num(0.7, 0.05, 1),
    STRATUS_INSTANCE_START_TIMEOUT_MS: int(30_000, 1000, 600_000),

    /** Async invocations this process runs at once (its queue worker's concurrency). */
    STRATUS_ASYNC_CONCURRENCY: int(4, 1, 256),
    /** A worker's lock on a running async invocation: after a crash its jobs are taken over after about this long. */
    STRATUS_ASYNC_LOCK_MS: int(30_000, 1000, 600_000),
    /** How long an Idempotency-Key keeps answering with its first invocation's id. */
    STRATUS_IDEMPOTENCY_WINDOW_MS: int(86_400_000, 1000, 30 * 86_400_000),
    /** Invocation records kept per function, and for how long at most (also how long async results are kept). */
    STRATUS_INVOCATIONS_KEPT: int(1000, 1, 1_000_000),
    STRATUS_INVOCATIONS_MAX_AGE_MS: int(7 * 86_400_000, 60_000, 90 * 86_400_000),
    /** Metering (core/store/usage.ts): how long hourly usage is kept, and an optional price table for GET /v1/usage. */
    STRATUS_USAGE_MAX_AGE_DAYS: int(400, 1, 3660),
    STRATUS_PRICE_PER_GB_SECOND: price.optional(),
    STRATUS_PRICE_PER_MILLION_REQUESTS: price.optional(),

    /** Releases (control/releases/): how long a move of an alias waits for ready instances of the new version. */
    STRATUS_ROLLOUT_DEADLINE_MS: int(60_000, 1000, 900_000),
    /** How long a version's instances stay after traffic moved away from it, so a rollback lands on warm ones. */
    STRATUS_ROLLBACK_WARM_MS: int(600_000, 0, 86_400_000),
    /** Automatic rollback of a canary, or of a fresh rollout of latest, whose error rate passes the threshold. */
    STRATUS_AUTO_ROLLBACK: z.enum(['on', 'off']).default('on'),
    STRATUS_AUTO_ROLLBACK_ERROR_RATE: num(0.5, 0.01, 1),
    STRATUS_AUTO_ROLLBACK_MIN_REQUESTS: int(20, 1, 1_000_000),
    STRATUS_AUTO_ROLLBACK_WINDOW_MS: int(60_000, 1000, 3_600_000),
    /** How long after a rollout of latest its version is watched (a canary is watched as long as it lasts). */
    STRATUS_ROLLOUT_WATCH_MS: int(300_000, 1000, 86_400_000),

    /** The S3-compatible object storage's own port ("off": not started); default 9000, or ephemeral when STRATUS_PORT is 0. */
    STRATUS_S3_PORT: z.union([z.literal('off'), z.coerce.number().int().min(0).max(65535)]).optional(),
    /** The largest object the storage accepts (single PUT or completed multipart upload). */
    STRATUS_S3_MAX_OBJECT_MB: int(5120, 1, 5 * 1024 * 1024),
    /** Multipart uploads not completed this many days after they began are removed with their parts (S3's AbortIncompleteMultipartUpload). */
    STRATUS_S3_UPLOAD_EXPIRY_DAYS: int(7, 1, 3650),
    /** Storage quotas: bytes held in all buckets together, and in each bucket (objects and unfinished uploads' parts); 0: none. */
    STRATUS_S3_QUOTA_MB: int(0, 0, 1024 * 1024 * 1024),
    STRATUS_S3_BUCKET_QUOTA_MB: int(0, 0, 1024 * 1024 * 1024),
    /** The token a MinIO's webhook target sends (its auth_token) to POST /v1/hooks/storage/minio; unset: the hook is off. */
    STRATUS_MINIO_WEBHOOK_TOKEN: z.string().min(16, 'use at least 16 characters').max(512).regex(/^[!-~]+$/, 'use printable ASCII without spaces (MinIO sends it as "Authorization: Bearer <token>")').optional(),
    /** Networks a push hook's clone URL may reach besides public addresses (CIDRs, comma-separated; core/ip-policy.ts). */
    STRATUS_GIT_ALLOWED_NETWORKS: networkList.optional(),

    /** Notifications (services/notify/): a webhook every event of every function is POSTed to, signed with the secret. */
    STRATUS_NOTIFY_WEBHOOK_URL: httpUrl.optional(),
    STRATUS_NOTIFY_WEBHOOK_SECRET: z.string().min(16, 'use at least 16 characters').max(512).optional(),
    /** The SMTP server emails go through: smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps://… */
    STRATUS_SMTP_URL: z.string().regex(/^smtps?:\/\/[^/?#]+\/?$/, 'use smtp://[user:password@]host[:port] or smtps://… (percent-encode "@", ":" and "/" in the user and password)').optional(),
    STRATUS_NOTIFY_EMAIL_FROM: z.email('must be an email address').optional(),
    /** Comma-separated addresses every event of every function is mailed to. */
    STRATUS_NOTIFY_EMAIL_TO: z.string().superRefine(emailList).transform(splitList).optional(),
    /** Attempts per delivery, the wait after the first failed one (doubled each time, at most an hour), and one attempt's bound. */
    STRATUS_NOTIFY_ATTEMPTS: int(10, 1, 50),
    STRATUS_NOTIFY_BACKOFF_MS: int(2000, 10, 3_600_000),
    STRATUS_NOTIFY_TIMEOUT_MS: int(10_000, 100, 120_000),

    STRATUS_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    STRATUS_LOG_FORMAT: z.enum(['text', 'json']).default('text'),
  })
  // The functions' domain must be nowhere the dashboard's cookies go or come from (gateway/dataplane/origins.ts).
  .refine((e) => e.STRATUS_PUBLIC_URL === undefined || e.STRATUS_FUNCTIONS_URL === undefined || !hostsOverlap(new URL(e.STRATUS_PUBLIC_URL).hostname, new URL(e.STRATUS_FUNCTIONS_URL).hostname), {
    message: 'must not be the host of STRATUS_PUBLIC_URL, nor a domain above or below it: function content would share cookies with the dashboard (use another domain, e.g. https://fn.usercontent.example for https://stratus.example.com)',
    path: ['STRATUS_FUNCTIONS_URL'],
  })
  // The notice is part of the stop: the drain of in-flight calls after it needs time too.
  .refine((e) => e.STRATUS_DRAIN_NOTICE_MS < e.STRATUS_STOP_TIMEOUT_MS, {
    message: 'must be less than STRATUS_STOP_TIMEOUT_MS (the notice is part of the stop, and the drain after it needs time too)',
    path: ['STRATUS_DRAIN_NOTICE_MS'],
  })
  .refine((e) => e.STRATUS_PANIC_WINDOW_MS <= e.STRATUS_STABLE_WINDOW_MS, {
    message: 'must not exceed STRATUS_STABLE_WINDOW_MS',
    path: ['STRATUS_PANIC_WINDOW_MS'],
  })
  // Every webhook is signed: a receiver could not tell an unsigned one from anybody's POST.
  .refine((e) => e.STRATUS_NOTIFY_WEBHOOK_URL === undefined || e.STRATUS_NOTIFY_WEBHOOK_SECRET !== undefined, {
    message: 'set it when STRATUS_NOTIFY_WEBHOOK_URL is set (every webhook is signed with it)',
    path: ['STRATUS_NOTIFY_WEBHOOK_SECRET'],
  })
  .refine((e) => e.STRATUS_NOTIFY_EMAIL_TO === undefined || e.STRATUS_SMTP_URL !== undefined, {
    message: 'set it when STRATUS_NOTIFY_EMAIL_TO is set (the SMTP server that sends the emails)',
    path: ['STRATUS_SMTP_URL'],
  })
  .refine((e) => e.STRATUS_SMTP_URL === undefined || e.STRATUS_NOTIFY_EMAIL_FROM !== undefined, {
    message: 'set it when STRATUS_SMTP_URL is set (the sender of notification emails)',
    path: ['STRATUS_NOTIFY_EMAIL_FROM'],
  });

export interface Config {
  port: number;
  host: string;
  apiKey: string | undefined;
  stateDir: string;
  /** Which platform this is: the dev.stratus.platform label of its instances; replicas of one platform share it. */
  platformId: string;
  publicUrl: string | undefined;
  /** Function content's own origins: https?://NAME.DOMAIN[:port]; port null: the port the request came in on. */
  functions: FunctionsOrigin;
  store: {
    kind: 'auto' | 'redis' | 'memory';
    redisUrl: string;
    /** Every Redis key and channel of this platform starts with it, so platforms sharing a Redis stay apart. */
    redisPrefix: string;
    /** STRATUS_REDIS_URL was given: the operator means Redis, so start-up never falls back from it. */
    redisUrlSet: boolean;
    /** The host's PATH: where start-up looks for a redis-server binary (a sign Redis belongs here). */
    hostPath: string;
  };
  /** Start-up waits this long for a Redis or Docker that is meant to be there (0: without a bound). */
  serviceWaitMs: number;
  /** SIGTERM/SIGINT: how long the stop may take before the process exits anyway (platform/main.ts). */
  stopTimeoutMs: number;
  /** SIGTERM: readiness answers 503 this long, calls still served, before intake closes (platform/start-platform.ts). */
  drainNoticeMs: number;
  /** The native data plane (gateway/native/): HAProxy in front, Stratus the activator behind it. */
  dataPlane: { kind: 'auto' | 'native' | 'node'; slots: number };
  /** The throttle of wrong admin keys per client (gateway/api/auth-throttle.ts), and whose X-Forwarded-For names the client. */
  auth: { maxFailures: number; windowMs: number; trustedProxies: string[] };
  backend: {
    kind: 'auto' | 'docker' | 'process' | 'kubernetes';
    dockerSocket: string;
    functionUid: number;
    pidsLimit: number;
    cpuShares: number;
    startTimeoutMs: number;
    /** The few host variables a process-backend child needs (PATH, CA, locale): it does not inherit the rest. */
    processBaseEnv: Record<string, string>;
    /** Used when kind is 'kubernetes'. */
    kubernetes: { namespace: string; context: string | undefined };
    /** Where instances reach Stratus's code route (Kubernetes stems); undefined: not reachable, no stems there. */
    internalUrl: string | undefined;
    /** Docker stems: code by hard links ('link') or over HTTP through a unix socket ('http'). */
    stemCode: 'link' | 'http';
  };
  /** kept: images of the newest versions kept per function, besides those an alias uses. */
  images: { registry: string; prefix: string; runtime: { node: string; python: string }; kept: number };
  build: {
    concurrency: number;
    timeoutMs: number;
    caFile: string | undefined;
    maxUploadBytes: number;
    maxUnpackedBytes: number;
    maxEntries: number;
    maxCompressionRatio: number;
    /**
     * The machine's proxy and npm/pip registry settings, the only host variables a dependency install
     * gets besides HOME, PATH and the CA (it runs the uploader's scripts: nothing of Stratus's own).
     */
    installEnv: Record<string, string>;
  };
  scheduler: {
    stemPoolSize: number;
    stemIdleMs: number;
    queueDepth: number;
    queueTimeoutMs: number;
    tickMs: number;
    stableWindowMs: number;
    panicWindowMs: number;
    targetUtilization: number;
  };
  /** Rollouts, rollbacks and the error-rate watch (control/releases/). */
  releases: {
    rolloutDeadlineMs: number;
    rollbackWarmMs: number;
    autoRollback: { errorRate: number; minRequests: number; windowMs: number; watchMs: number } | null;
  };
  /** Async invocations and invocation records (control/invocations/). */
  events: { asyncConcurrency: number; asyncLockMs: number; idempotencyWindowMs: number; recordsKept: number; recordsMaxAgeMs: number };
  /** Metering: hourly usage kept this long; prices (decimal strings, one unset: "0") turn it into cost, null: no cost. */
  usage: { maxAgeMs: number; price: { perGbSecond: string; perMillionRequests: string } | null };
  /** S3-compatible object storage (services/storage/): its port on `host` (null: off; 0: ephemeral). */
  storage: {
    s3Port: number | null;
    maxObjectBytes: number;
    uploadExpiryMs: number;
    /** Bytes (null: no quota). */
    quota: { totalBytes: number | null; bucketBytes: number | null };
    /** The bearer token MinIO's bucket-notification webhooks must carry (null: POST /v1/hooks/storage/minio is off). */
    minioWebhookToken: string | null;
  };
  /** Git push builds: networks a hook's clone URL may reach besides public addresses (none by default). */
  git: { allowedNetworks: string[] };
  /** Notification channels of the whole platform (each function may add its own) and delivery retries. */
  notify: {
    webhook: { url: string; secret: string } | null;
    smtp: { url: string; from: string } | null;
    emailTo: string[];
    attempts: number;
    backoffMs: number;
    timeoutMs: number;
  };
  log: { level: 'debug' | 'info' | 'warn' | 'error'; format: 'text' | 'json' };
  /** STRATUS_* variables the kubelet injected as Kubernetes service links (core/service-links.ts): ignored, named in a debug line. */
  serviceLinks: string[];
}

/** Every variable the config reads (STRATUS_* and NODE_EXTRA_CA_CERTS): what a deployment may set. */
export function settingNames(): string[] {
  return Object.keys(schema.shape);
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = settingNames();
  const notSettings = Object.keys(env).filter((k) => k.startsWith('STRATUS_') && !known.includes(k));
  // On Kubernetes a Service named stratus-* adds STRATUS_*_SERVICE_HOST and the like to every pod: not
  // settings, ignored. A misspelt setting is no such whole, consistent set and is still refused below.
  const serviceLinks = serviceLinkNames(env, notSettings);
  const unknown = notSettings.filter((k) => !serviceLinks.includes(k));
  if (unknown.length > 0) {
    throw new StratusError('INVALID_CONFIG', `unknown setting ${unknown.join(', ')}; known settings: ${known.filter((k) => k.startsWith('STRATUS_')).join(', ')}`, { field: unknown[0] });
  }
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.map(String).join('.');
    const hint = linkHint(field, env[field]);
    throw new StratusError('INVALID_CONFIG', `${field}: ${issue.message}${hint ? `; ${hint}` : ''}`, { field });
  }
  const e = parsed.data;
  const mb = 1024 * 1024;
  const platformId = e.STRATUS_PLATFORM_ID ?? platformIdFor(path.resolve(e.STRATUS_STATE_DIR));
  return {
    port: e.STRATUS_PORT,
    host: e.STRATUS_HOST,
    apiKey: e.STRATUS_API_KEY,
    stateDir: path.resolve(e.STRATUS_STATE_DIR),
    platformId,
    publicUrl: e.STRATUS_PUBLIC_URL,
    functions: functionsOrigin(e.STRATUS_FUNCTIONS_URL),
    store: { kind: e.STRATUS_STORE, redisUrl: e.STRATUS_REDIS_URL, redisPrefix: e.STRATUS_REDIS_PREFIX ?? `${platformId}:`, redisUrlSet: env.STRATUS_REDIS_URL !== undefined, hostPath: env.PATH ?? '' },
    serviceWaitMs: e.STRATUS_SERVICE_WAIT_MS,
    stopTimeoutMs: e.STRATUS_STOP_TIMEOUT_MS,
    drainNoticeMs: e.STRATUS_DRAIN_NOTICE_MS,
    dataPlane: { kind: e.STRATUS_DATA_PLANE, slots: e.STRATUS_NATIVE_SLOTS },
    auth: { maxFailures: e.STRATUS_AUTH_MAX_FAILURES, windowMs: e.STRATUS_AUTH_WINDOW_MS, trustedProxies: e.STRATUS_TRUSTED_PROXIES ?? [] },
    backend: {
      kind: e.STRATUS_BACKEND,
      dockerSocket: e.STRATUS_DOCKER_SOCKET,
      functionUid: e.STRATUS_FUNCTION_UID,
      pidsLimit: e.STRATUS_INSTANCE_PIDS_LIMIT,
      cpuShares: e.STRATUS_CPU_SHARES,
      startTimeoutMs: e.STRATUS_INSTANCE_START_TIMEOUT_MS,
      processBaseEnv: pick(env, ['PATH', 'HOME', 'LANG', 'TMPDIR', 'NODE_EXTRA_CA_CERTS']),
      kubernetes: { namespace: e.STRATUS_K8S_NAMESPACE, context: e.STRATUS_K8S_CONTEXT },
      internalUrl: e.STRATUS_INTERNAL_URL,
      stemCode: e.STRATUS_STEM_CODE,
    },
    images: {
      registry: e.STRATUS_REGISTRY,
      // Per platform by default, like the Redis prefix: two Stratus pushing to one registry must not
      // overwrite or purge each other's NAME:vN.
      prefix: e.STRATUS_IMAGE_PREFIX ?? platformId,
      runtime: { node: e.STRATUS_RUNTIME_IMAGE_NODE, python: e.STRATUS_RUNTIME_IMAGE_PYTHON },
      kept: e.STRATUS_IMAGES_KEPT,
    },
    build: {
      concurrency: e.STRATUS_BUILD_CONCURRENCY,
      timeoutMs: e.STRATUS_BUILD_TIMEOUT_MS,
      caFile: e.STRATUS_BUILD_CA_FILE ?? e.NODE_EXTRA_CA_CERTS,
      maxUploadBytes: e.STRATUS_MAX_UPLOAD_MB * mb,
      maxUnpackedBytes: e.STRATUS_MAX_UNPACKED_MB * mb,
      maxEntries: e.STRATUS_MAX_ARCHIVE_ENTRIES,
      maxCompressionRatio: e.STRATUS_MAX_COMPRESSION_RATIO,
      installEnv: pick(env, INSTALL_ENV),
    },
    scheduler: {
      stemPoolSize: e.STRATUS_STEM_POOL_SIZE,
      stemIdleMs: e.STRATUS_STEM_IDLE_MS,
      queueDepth: e.STRATUS_QUEUE_DEPTH,
      queueTimeoutMs: e.STRATUS_QUEUE_TIMEOUT_MS,
      tickMs: e.STRATUS_AUTOSCALE_TICK_MS,
      stableWindowMs: e.STRATUS_STABLE_WINDOW_MS,
      panicWindowMs: e.STRATUS_PANIC_WINDOW_MS,
      targetUtilization: e.STRATUS_TARGET_UTILIZATION,
    },
    releases: {
      rolloutDeadlineMs: e.STRATUS_ROLLOUT_DEADLINE_MS,
      rollbackWarmMs: e.STRATUS_ROLLBACK_WARM_MS,
      autoRollback: e.STRATUS_AUTO_ROLLBACK === 'off' ? null : { errorRate: e.STRATUS_AUTO_ROLLBACK_ERROR_RATE, minRequests: e.STRATUS_AUTO_ROLLBACK_MIN_REQUESTS, windowMs: e.STRATUS_AUTO_ROLLBACK_WINDOW_MS, watchMs: e.STRATUS_ROLLOUT_WATCH_MS },
    },
    events: {
      asyncConcurrency: e.STRATUS_ASYNC_CONCURRENCY,
      asyncLockMs: e.STRATUS_ASYNC_LOCK_MS,
      idempotencyWindowMs: e.STRATUS_IDEMPOTENCY_WINDOW_MS,
      recordsKept: e.STRATUS_INVOCATIONS_KEPT,
      recordsMaxAgeMs: e.STRATUS_INVOCATIONS_MAX_AGE_MS,
    },
    usage: {
      maxAgeMs: e.STRATUS_USAGE_MAX_AGE_DAYS * 86_400_000,
      price: e.STRATUS_PRICE_PER_GB_SECOND === undefined && e.STRATUS_PRICE_PER_MILLION_REQUESTS === undefined ? null : { perGbSecond: e.STRATUS_PRICE_PER_GB_SECOND ?? '0', perMillionRequests: e.STRATUS_PRICE_PER_MILLION_REQUESTS ?? '0' },
    },
    // An ephemeral API port (tests, several platforms on one host) makes the S3 port ephemeral too.
    storage: {
      s3Port: e.STRATUS_S3_PORT === 'off' ? null : e.STRATUS_S3_PORT ?? (e.STRATUS_PORT === 0 ? 0 : 9000),
      maxObjectBytes: e.STRATUS_S3_MAX_OBJECT_MB * mb,
      uploadExpiryMs: e.STRATUS_S3_UPLOAD_EXPIRY_DAYS * 86_400_000,
      quota: { totalBytes: e.STRATUS_S3_QUOTA_MB ? e.STRATUS_S3_QUOTA_MB * mb : null, bucketBytes: e.STRATUS_S3_BUCKET_QUOTA_MB ? e.STRATUS_S3_BUCKET_QUOTA_MB * mb : null },
      minioWebhookToken: e.STRATUS_MINIO_WEBHOOK_TOKEN ?? null,
    },
    git: { allowedNetworks: e.STRATUS_GIT_ALLOWED_NETWORKS ?? [] },
    notify: {
      webhook: e.STRATUS_NOTIFY_WEBHOOK_URL ? { url: e.STRATUS_NOTIFY_WEBHOOK_URL, secret: e.STRATUS_NOTIFY_WEBHOOK_SECRET! } : null,
      smtp: e.STRATUS_SMTP_URL ? { url: e.STRATUS_SMTP_URL, from: e.STRATUS_NOTIFY_EMAIL_FROM! } : null,
      emailTo: e.STRATUS_NOTIFY_EMAIL_TO ?? [],
      attempts: e.STRATUS_NOTIFY_ATTEMPTS,
      backoffMs: e.STRATUS_NOTIFY_BACKOFF_MS,
      timeoutMs: e.STRATUS_NOTIFY_TIMEOUT_MS,
    },
    log: { level: e.STRATUS_LOG_LEVEL, format: e.STRATUS_LOG_FORMAT },
    serviceLinks,
  };
}

/** Host variables passed to dependency installs as they are: proxies and where npm and pip fetch from. */
const INSTALL_ENV = [
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy',
  'npm_config_registry', 'NPM_CONFIG_REGISTRY', 'PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL', 'PIP_TRUSTED_HOST',
];

function pick(env: Record<string, string | undefined>, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (env[n] !== undefined) out[n] = env[n]!;
  return out;
}

/**
 * What start-up prints: where it listens, what it runs on, where its state and key are. Secrets never
 * appear (the key is named by where it comes from; a URL's credentials and secret-looking query
 * parameters are replaced); the rest of the settings are in docs/configuration.md with their defaults.
 */
export function describeConfig(cfg: Config): Record<string, unknown> {
  const redis = cfg.store.kind === 'memory' ? {} : { redis: redactUrl(cfg.store.redisUrl) };
  const docker = cfg.backend.kind === 'auto' || cfg.backend.kind === 'docker' ? { docker: cfg.backend.dockerSocket } : {};
  return {
    listen: `${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${cfg.port}`,
    ...(cfg.publicUrl ? { publicUrl: redactUrl(cfg.publicUrl) } : {}),
    backend: cfg.backend.kind,
    dataPlane: cfg.dataPlane.kind,
    ...docker,
    store: cfg.store.kind,
    ...redis,
    registry: redactUrl(cfg.images.registry),
    stateDir: cfg.stateDir,
    apiKey: cfg.apiKey ? 'from STRATUS_API_KEY' : new StateLayout(cfg.stateDir).apiKey,
    ...describeNotify(cfg.notify),
    // Whether the MinIO hook is on, never its token.
    ...(cfg.storage.minioWebhookToken ? { minioWebhook: '/v1/hooks/storage/minio (token from STRATUS_MINIO_WEBHOOK_TOKEN)' } : {}),
  };
}

/** Where notifications go, without the webhook's secret, its path (it may hold a token) or SMTP credentials. */
function describeNotify(n: Config['notify']): Record<string, unknown> {
  if (!n.webhook && !n.smtp) return {};
  return {
    notify: {
      ...(n.webhook ? { webhook: new URL(n.webhook.url).origin } : {}),
      ...(n.smtp ? { smtp: redactUrl(n.smtp.url), emailTo: n.emailTo.length } : {}),
    },
  };
}

const SECRET_PARAM = /pass|secret|token|key|auth/i;

/** A URL fit for a log line: user and password, and query parameters that look secret, replaced. */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Not a URL (a host:port, or malformed): still hide anything before an "@".
    return raw.replace(/^(.*\/\/)?[^@/]*@/, (_m, scheme: string | undefined) => `${scheme ?? ''}<credentials>@`);
  }
  if (!url.host) return raw.replace(/^[^@/]*@/, '<credentials>@');
  const creds = url.username || url.password ? '<credentials>@' : '';
  const params = [...url.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${SECRET_PARAM.test(k) ? '<redacted>' : encodeURIComponent(v)}`);
  return `${url.protocol}//${creds}${url.host}${url.pathname === '/' ? '' : url.pathname}${params.length ? `?${params.join('&')}` : ''}`;
}
