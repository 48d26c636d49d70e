// What the dashboard is built from: the services the API routes use (never HTTP to Stratus itself), the
// builds router reused for build logs and reports, and the in-memory sources of its live figures.

import type { Router } from 'express';
import type { Config } from '../../core/config.js';
import type { Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { Store } from '../../core/store/store.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { AdminKeyCheck } from '../api/auth.js';
import type { StorageKeyIssuer } from '../api/routes/storage-keys.js';
import type { StorageBrowser } from '../../services/storage/browser.js';
import type { AsyncInvocations } from '../../control/invocations/async-invocations.js';
import type { FunctionService } from '../../control/functions/function-service.js';
import type { VersionSources } from '../../control/functions/version-sources.js';
import type { Origins } from '../dataplane/origins.js';
import type { ReleaseService } from '../../control/releases/release-service.js';
import type { TriggerService } from '../../control/triggers/trigger-service.js';
import type { Activity } from './activity.js';
import type { HostProbe } from './host.js';

/** The dashboard's own sources, made by the composition root (platform/start-platform.ts). */
export interface DashboardSources {
  activity: Activity;
  host: HostProbe;
  close(): Promise<void>;
}

export interface DashboardDeps {
  config: Config;
  /** The admin key's check with its per-client throttle, the one /v1 uses too (gateway/api/auth.ts). */
  adminKey: AdminKeyCheck;
  store: Store;
  scheduler: Scheduler;
  service: FunctionService;
  /** Each version's kept upload, for the console's editor and diff. */
  sources: VersionSources;
  triggers: TriggerService;
  releases: ReleaseService;
  asyncInvocations: AsyncInvocations;
  /** /builds/:id, /builds/:id/report and /builds/:id/logs?follow=1 as /v1 serves them (gateway/api/routes/builds.ts). */
  builds: Router;
  clock: Clock;
  logger: Logger;
  /** Which hosts are function content's (gateway/dataplane/origins.ts): the dashboard is never served where they could set cookies. */
  origins: Origins;
  /** The S3 storage's keys and, in process, its buckets and objects; absent: STRATUS_S3_PORT=off. */
  storage?: { keys: StorageKeyIssuer; url: string; browser?: StorageBrowser };
  /** Absent (a test harness without the composition root): charts stay empty, the host page says so. */
  dashboard?: Partial<DashboardSources>;
}
