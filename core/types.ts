// The records Stratus keeps about functions, versions and builds. They live in the Store.

import type { AliasTarget, WeightedVersion } from './aliases.js';
import type { FunctionConfig } from './function-config.js';
import type { LogLevel } from './log.js';

export type Runtime = 'node' | 'python';
export const RUNTIMES: readonly Runtime[] = ['node', 'python'];

export interface FunctionRecord {
  name: string;
  /** The configuration the latest upload or PATCH asked for. */
  config: FunctionConfig;
  /**
   * Version the plain function URL serves (the `latest` alias): the newest version whose build succeeded
   * and rolled out, or the one a rollback chose. With a canary on `latest`, its first (primary) version.
   */
  currentVersion: number | null;
  /** Named aliases (and `latest` while it is split for a canary); absent in records written before aliases. */
  aliases?: Record<string, AliasTarget>;
  /** The last move of an alias (a new build's rollout, an alias change, a rollback), as GET /v1/functions/:name shows it. */
  rollout?: RolloutState | null;
  /** Highest version number handed out (the newest upload, whatever its build status). */
  latestVersion: number;
  createdAt: string;
  updatedAt: string;
}

export interface RolloutState {
  /** The alias that moves ('latest' for a new build or a rollback). */
  alias: string;
  to: WeightedVersion[];
  from: WeightedVersion[] | null;
  /** What moved it: a build's success, PUT …/aliases, a rollback by hand, or one Stratus decided on. */
  cause: 'build' | 'alias' | 'rollback' | 'auto-rollback';
  /** warming: waiting for ready instances of the new version(s); done: traffic moved; abandoned: it never did. */
  state: 'warming' | 'done' | 'abandoned';
  startedAt: string;
  finishedAt: string | null;
  /** Why it was abandoned, or why Stratus rolled back. */
  reason: string | null;
}

export type VersionStatus = 'building' | 'ready' | 'failed';

/** What made a version (and its build): shown on GET /v1/builds/:id and on each version of GET /v1/functions/:name. */
export type OriginKind = 'upload' | 'patch' | 'image' | 'git' | 'rollback';

export interface Origin {
  kind: OriginKind;
  /** git: the pushed commit (the event's `after`). */
  commit?: string;
  /** git: the first line of the commit message, cut at 200 characters. */
  message?: string;
  /** git: the pushed ref, e.g. "refs/heads/main". */
  ref?: string;
  /** git: the repository fetched from, its credentials replaced (core/config.ts redactUrl). */
  repository?: string;
}

export interface VersionRecord {
  function: string;
  version: number;
  /** Configuration frozen with this version: a rollback brings back code and settings together. */
  config: FunctionConfig;
  status: VersionStatus;
  /** Image reference in the registry (set once pushed, or the user's own image). */
  image: string | null;
  /** The image's manifest digest in the registry (sha256:…): what the tag pointed at when it was built. */
  digest?: string | null;
  /** SHA-256 (hex) of the uploaded source as it arrived (the archive or file; for a git push, the packed folder). */
  sourceSha256?: string | null;
  /** Directory holding the built code tree of this version, used to specialize stems (null for user images). */
  artifactDir: string | null;
  /** Handler resolved at build time (e.g. "hello.handler" for a single file hello.js); null for a user's image. */
  handler?: string | null;
  buildId: string | null;
  createdAt: string;
  /** What made this version (absent: recorded before this field). */
  origin?: Origin;
  /** When its image was deleted as one of the function's old ones (builder/image-retention.ts); it cannot start from it again. */
  imageDeletedAt?: string;
}

export type BuildStatus = 'queued' | 'building' | 'checking' | 'pushing' | 'succeeded' | 'failed';
/** The stages of a build, in order (timings are kept per stage; check: lint and tests, builder/checks.ts). */
export type BuildStage = 'extract' | 'install' | 'check' | 'image' | 'push' | 'load';
export const TERMINAL_BUILD_STATUSES: readonly BuildStatus[] = ['succeeded', 'failed'];

export interface BuildRecord {
  id: string;
  function: string;
  version: number;
  status: BuildStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Milliseconds per stage, e.g. { extract: 12, install: 3400, check: 1900, image: 2100, push: 800, load: 400 }. */
  timings: Record<string, number>;
  image: string | null;
  /** A message the user can act on when the build failed. */
  error: string | null;
  /** The stage a failed build stopped in ('check': its lint or tests failed, the report says what); absent: none or not known. */
  failedStage?: BuildStage | null;
  /**
   * The platform id (core/platform-id.ts) whose builder runs it, where its upload lies. Another Stratus
   * sharing the Redis prefix leaves the build to that one, also at start (absent: recorded before this field).
   */
  builtBy?: string;
  /** What started the build: an upload or a git push (absent: recorded before this field). */
  origin?: Origin;
}

/** What the upload API hands to the builder. */
export interface BuildRequest {
  buildId: string;
  function: string;
  version: number;
  config: FunctionConfig;
  /** Path of the uploaded source (archive or single file) saved in the state dir. */
  sourcePath: string;
  /** Original file name of the upload: tells a .zip from a .tar.gz from a single source file. */
  sourceName: string;
}

/** The version the data plane runs: everything the scheduler needs to start an instance. */
export interface DeployedVersion {
  function: string;
  version: number;
  config: FunctionConfig;
  /** Image in the registry; null when built without Docker (process backend runs artifactDir directly). */
  image: string | null;
  /** Built code tree (code + installed dependencies) used to specialize stems; null for a user's own image. */
  artifactDir: string | null;
  /** Effective handler resolved at build time; when absent the scheduler uses config.handler or the runtime default. */
  handler?: string | null;
}

/** One line a function's instance wrote, as kept per function (GET /v1/functions/:name/logs). */
export interface LogRecord {
  /** ISO 8601, when the platform received the line. */
  time: string;
  function: string;
  version: number | null;
  instance: string;
  /** The invocation that wrote it; null for the instance's own lines (start-up, runtime notes, background work). */
  requestId: string | null;
  level: LogLevel;
  stream: 'stdout' | 'stderr';
  message: string;
}

export interface LogQuery {
  /** Only lines of this invocation. */
  requestId?: string;
  /** The newest this many matching lines (default: all kept). */
  limit?: number;
  /** Only lines received after this ISO 8601 time. */
  since?: string;
}
