// A Builder fake for gateway tests: records submissions and lets a test finish a build the way the real
// builder reports it — through the store (build record, version record, function's current version).

import type { Builder, UploadToPrepare } from '../../builder/builder.js';
import { StratusError } from '../../core/errors.js';
import type { Store } from '../../core/store/store.js';
import type { BuildRequest } from '../../core/types.js';

export class FakeBuilder implements Builder {
  readonly submitted: BuildRequest[] = [];
  readonly purged: string[] = [];
  readonly discarded: string[] = [];
  failSubmit = false;
  /** When set, prepare() refuses the upload the way the real builder refuses a bad archive. */
  refuseUpload: string | null = null;

  constructor(private readonly store: Store) {}

  async prepare(_upload: UploadToPrepare): Promise<void> {
    if (this.refuseUpload) throw new StratusError('BAD_ARCHIVE', this.refuseUpload, { field: 'code' });
  }

  async discard(buildId: string): Promise<void> {
    this.discarded.push(buildId);
  }

  async submit(request: BuildRequest): Promise<void> {
    if (this.failSubmit) throw new Error('queue is down');
    this.submitted.push(request);
  }

  async recover(): Promise<void> {}

  async purge(functionName: string): Promise<void> {
    this.purged.push(functionName);
  }

  async close(): Promise<void> {}

  async succeed(buildId: string, log = 'built\n'): Promise<void> {
    const build = await this.#build(buildId);
    const image = `127.0.0.1:5000/stratus/${build.function}:${build.version}`;
    await this.store.appendBuildLog(buildId, log);
    const version = (await this.store.getVersion(build.function, build.version))!;
    await this.store.putVersion({ ...version, status: 'ready', image, artifactDir: `/tmp/artifacts/${buildId}` });
    await this.store.putBuild({ ...build, status: 'succeeded', image, finishedAt: new Date().toISOString() });
    const fn = (await this.store.getFunction(build.function))!;
    if ((fn.currentVersion ?? 0) < build.version) await this.store.putFunction({ ...fn, currentVersion: build.version });
  }

  async fail(buildId: string, error: string): Promise<void> {
    const build = await this.#build(buildId);
    await this.store.appendBuildLog(buildId, `${error}\n`);
    const version = (await this.store.getVersion(build.function, build.version))!;
    await this.store.putVersion({ ...version, status: 'failed' });
    await this.store.putBuild({ ...build, status: 'failed', error, finishedAt: new Date().toISOString() });
    const fn = (await this.store.getFunction(build.function))!;
    await this.store.putFunction({ ...fn, updatedAt: new Date().toISOString() });
  }

  async #build(id: string) {
    const build = await this.store.getBuild(id);
    if (!build) throw new Error(`fake builder: no build ${id}`);
    return build;
  }
}
