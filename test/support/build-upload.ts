// Submits an upload to a Builder the way the gateway does (records first, then submit) and waits for
// the build to end: for builder tests that drive whole builds without the HTTP layer.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Builder } from '../../builder/builder.js';
import { parseFunctionConfig } from '../../core/function-config.js';
import type { Store } from '../../core/store/store.js';
import type { BuildRecord } from '../../core/types.js';
import { makeTar } from '../fixtures/archives/make-archives.js';

export interface UploadTarget {
  store: Store;
  builder: Builder;
  stateDir: string;
}

/** Packs `files` as a tar.gz upload of function `name`, records it and submits the build; returns the build id. */
export async function submitFiles(t: UploadTarget, name: string, runtime: 'node' | 'python', files: Record<string, string | Buffer>): Promise<string> {
  const config = parseFunctionConfig({ name, runtime });
  const version = await t.store.nextVersion(name);
  const buildId = `it-${name}-${crypto.randomBytes(4).toString('hex')}`;
  const dir = path.join(t.stateDir, 'uploads', buildId);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'code.tar.gz'), await makeTar(Object.entries(files).map(([n, data]) => ({ name: n, data })), true));
  const now = new Date().toISOString();
  const existing = await t.store.getFunction(name);
  await t.store.putFunction({ name, config, currentVersion: existing?.currentVersion ?? null, latestVersion: version, createdAt: existing?.createdAt ?? now, updatedAt: now });
  await t.store.putVersion({ function: name, version, config, status: 'building', image: null, artifactDir: null, buildId, createdAt: now });
  await t.store.putBuild({ id: buildId, function: name, version, status: 'queued', createdAt: now, startedAt: null, finishedAt: null, timings: {}, image: null, error: null });
  await t.builder.submit({ buildId, function: name, version, config, sourcePath: path.join(dir, 'code.tar.gz'), sourceName: 'code.tar.gz' });
  return buildId;
}

/** The build record once it succeeded or failed, with its whole log. */
export async function finishedBuild(store: Store, buildId: string): Promise<{ build: BuildRecord; log: string }> {
  for (let i = 0; i < 1200; i++) {
    const b = await store.getBuild(buildId);
    if (b && (b.status === 'succeeded' || b.status === 'failed')) return { build: b, log: (await store.readBuildLog(buildId)).text };
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`build ${buildId} did not finish`);
}
