// Where Stratus keeps its files under the state dir (STRATUS_STATE_DIR), named in one place:
//   api-key                  the admin key made at first start, when STRATUS_API_KEY is not set (0600)
//   used-<service>           markers: this state dir's platform used Redis / Docker before
//                            (platform/boot/service-wait.ts: then start-up waits for it, never falls back)
//   run/                     the backends' per-instance dirs (unix sockets, the process backend's files)
//   uploads/<buildId>/       an upload's source, kept until its build has read it
//   work/<buildId>/          a build's unpacked and installed tree
//   artifacts/<fn>/v<N>/     a built version's files (a version record names the dir; the process backend
//                            runs from it; platform/boot/legacy-keys.ts tells a platform's own versions by it)
//   artifacts/<fn>/sources/<buildId>/  a build's upload as it was sent (GET …/versions/N/source): by build,
//                            as a config-only version shares its build's code; beside the artifacts so
//                            deleting the function removes it, outside v<N>/ so it never joins a running tree
//   artifact-store/          the ArtifactStore of a platform on the in-memory store (core/store/artifacts-dir.ts)
//   git/<buildId>/           a git push's fetch, until its build is queued
//   storage/                 the S3 service's buckets, multipart uploads and access keys (services/storage/)
// A build id or a function name is one path segment: one that could climb out of its dir is a bug upstream
// (both are checked long before), refused here rather than followed.

import path from 'node:path';
import { StratusError } from './errors.js';

export class StateLayout {
  /** `root` is the state dir, as config.ts resolved it. */
  constructor(readonly root: string) {}

  get apiKey(): string {
    return path.join(this.root, 'api-key');
  }

  usedMarker(service: string): string {
    return path.join(this.root, `used-${segment('service', service)}`);
  }

  get runDir(): string {
    return path.join(this.root, 'run');
  }

  upload(buildId: string): string {
    return path.join(this.root, 'uploads', segment('build id', buildId));
  }

  work(buildId: string): string {
    return path.join(this.root, 'work', segment('build id', buildId));
  }

  /** Every built version's files of `fn`: what deleting the function removes. */
  artifactsOf(fn: string): string {
    return path.join(this.root, 'artifacts', segment('function name', fn));
  }

  artifact(fn: string, version: number): string {
    if (!Number.isSafeInteger(version) || version < 1) throw new StratusError('INTERNAL', `a version is a positive integer, not ${version}`);
    return path.join(this.artifactsOf(fn), `v${version}`);
  }

  /** Where a build's upload is kept once the build has read it: one file, named as it was uploaded. */
  source(fn: string, buildId: string): string {
    return path.join(this.artifactsOf(fn), 'sources', segment('build id', buildId));
  }

  /** The ArtifactStore's files when the store is in memory (one process, one disk). */
  get artifactStore(): string {
    return path.join(this.root, 'artifact-store');
  }

  /** Git fetches; removed whole at start (what a killed Stratus left). */
  get git(): string {
    return path.join(this.root, 'git');
  }

  gitFetch(buildId: string): string {
    return path.join(this.git, segment('build id', buildId));
  }

  get storage(): string {
    return path.join(this.root, 'storage');
  }
}

function segment(what: string, value: string): string {
  if (value === '' || value === '.' || value === '..' || /[/\\\0]/.test(value)) {
    throw new StratusError('INTERNAL', `a ${what} must be one path segment, not ${JSON.stringify(value)}`);
  }
  return value;
}
