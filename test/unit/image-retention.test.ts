// Old versions' images (issue 10, item 3): which tags stay — the newest STRATUS_IMAGES_KEPT images, every
// image an alias's version runs, a build's under way — and that collecting deletes only the others, never
// one an alias moved to meanwhile nor one whose manifest a kept tag shares. The registry here is a map of
// tag -> digest; the end-to-end run against a real registry is test/integration/image-gc.test.ts.

import { describe, expect, it } from 'vitest';
import { ImageRetention, planImages } from '../../builder/image-retention.js';
import type { AliasTarget } from '../../core/aliases.js';
import { parseFunctionConfig } from '../../core/function-config.js';
import { ManualClock } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import type { FunctionRecord, VersionRecord } from '../../core/types.js';

const REPO = '127.0.0.1:5000/stratus-test/shop';
const config = parseFunctionConfig({ name: 'shop', runtime: 'node' });
const at = new Date(0).toISOString();

function version(n: number, over: Partial<VersionRecord> = {}): VersionRecord {
  return { function: 'shop', version: n, config, status: 'ready', image: `${REPO}:v${n}`, artifactDir: `/a/${n}`, buildId: `b${n}`, createdAt: at, ...over };
}
const alias = (...versions: number[]): AliasTarget => ({ versions: versions.map((v, i) => ({ version: v, weight: versions.length === 1 ? 100 : i === 0 ? 80 : 20 })), updatedAt: at });
const seven = () => [1, 2, 3, 4, 5, 6, 7].map((n) => version(n));
const tagsOf = (n: number) => Array.from({ length: n }, (_, i) => `v${i + 1}`);
const kept = (plan: ReturnType<typeof planImages>) => Object.fromEntries([...plan.keep].sort());

describe('planImages', () => {
  it('keeps the newest three and the version an alias points at; the others go', () => {
    const plan = planImages({ currentVersion: 7, aliases: { prod: alias(1) } }, seven(), tagsOf(7), REPO, 3);
    expect(kept(plan)).toEqual({ v1: 'alias', v5: 'newest', v6: 'newest', v7: 'alias' }); // v7: latest
    expect(plan.remove).toEqual(['v2', 'v3', 'v4']);
  });

  it('keeps both versions of a canary and the current one however old', () => {
    const plan = planImages({ currentVersion: 2, aliases: { beta: alias(3, 4) } }, seven(), tagsOf(7), REPO, 1);
    expect(kept(plan)).toEqual({ v2: 'alias', v3: 'alias', v4: 'alias', v7: 'newest' });
    expect(plan.remove).toEqual(['v1', 'v5', 'v6']);
  });

  it('never removes the tag of a version still building (pushed, its load check under way)', () => {
    const versions = [...seven(), version(8, { status: 'building', image: null })];
    const plan = planImages({ currentVersion: 7, aliases: {} }, versions, tagsOf(8), REPO, 2);
    expect(kept(plan)).toEqual({ v6: 'newest', v7: 'alias', v8: 'building' });
  });

  it('counts images, not versions: a PATCH runs its parent\'s image, which stays while the PATCH is kept or aliased', () => {
    // v6 is a PATCH of v5 (same image), v3 a PATCH of v2 that prod serves.
    const versions = seven().map((v) => (v.version === 6 ? { ...v, image: `${REPO}:v5` } : v.version === 3 ? { ...v, image: `${REPO}:v2` } : v));
    const tags = ['v1', 'v2', 'v4', 'v5', 'v7'];
    const plan = planImages({ currentVersion: 7, aliases: { prod: alias(3) } }, versions, tags, REPO, 3);
    expect(kept(plan)).toEqual({ v2: 'alias', v4: 'newest', v5: 'newest', v7: 'alias' });
    expect(plan.remove).toEqual(['v1']);
  });

  it('with 0 kept only what aliases use stays; failed builds\' tags, a user\'s image and foreign tags are handled', () => {
    const versions = [...seven(), version(8, { status: 'failed' }), version(9, { image: 'docker.example/own:1', artifactDir: null })];
    const plan = planImages({ currentVersion: 7, aliases: {} }, versions, [...tagsOf(8), 'latest', 'custom'], REPO, 0);
    expect(kept(plan)).toEqual({ v7: 'alias' });
    expect(plan.remove).toEqual(['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v8']); // not 'latest' nor 'custom': not Stratus's
  });
});

/** A registry of tag -> manifest digest, as the Distribution API shows it (a delete takes every tag of a digest). */
class MemoryRegistry {
  readonly tags = new Map<string, string>();
  readonly removed: string[] = [];
  onDigest: (tag: string) => Promise<void> = async () => {};
  async registryTags(): Promise<string[]> {
    return [...this.tags.keys()];
  }
  async digest(_fn: string, tag: string): Promise<string | null> {
    await this.onDigest(tag);
    return this.tags.get(tag) ?? null;
  }
  async removeImage(_fn: string, tag: string): Promise<void> {
    const digest = this.tags.get(tag);
    for (const [t, d] of this.tags) if (d === digest) this.tags.delete(t);
    this.removed.push(tag);
  }
}

async function setup(fn: Partial<FunctionRecord>, versions: VersionRecord[], keptCount = 3) {
  const store = new MemoryStore();
  for (const v of versions) await store.putVersion(v);
  await store.putFunction({ name: 'shop', config, currentVersion: 7, latestVersion: versions.length, createdAt: at, updatedAt: at, ...fn });
  const registry = new MemoryRegistry();
  for (const v of versions) if (v.image?.startsWith(REPO)) registry.tags.set(v.image.slice(REPO.length + 1), `sha256:${v.version}`);
  const retention = new ImageRetention({ store, purger: registry, repository: () => REPO, kept: keptCount, clock: new ManualClock(5000), logger: silentLogger });
  return { store, registry, retention };
}

describe('ImageRetention', () => {
  it('deletes the planned tags, marks their versions, and keeps the rest', async () => {
    const { store, registry, retention } = await setup({ aliases: { prod: alias(1) } }, seven());
    const r = await retention.collect('shop');
    expect(r.deleted).toEqual(['v2', 'v3', 'v4']);
    expect([...registry.tags.keys()].sort()).toEqual(['v1', 'v5', 'v6', 'v7']);
    expect((await store.getVersion('shop', 3))?.imageDeletedAt).toBe(new Date(5000).toISOString());
    expect((await store.getVersion('shop', 1))?.imageDeletedAt).toBeUndefined();
    expect(await retention.collect('shop')).toMatchObject({ deleted: [], skipped: [] }); // nothing left to do
  });

  it('skips a tag an alias moved to after the plan was made', async () => {
    const { store, registry, retention } = await setup({ aliases: { prod: alias(1) } }, seven());
    registry.onDigest = async (tag) => {
      if (tag === 'v3') await store.updateFunction('shop', (f) => f && { ...f, aliases: { prod: alias(3) } });
    };
    const r = await retention.collect('shop');
    expect(r.deleted).toEqual(['v2', 'v4']);
    expect(r.skipped).toEqual([{ tag: 'v3', reason: 'an alias points at it now' }]);
    expect(registry.tags.has('v3')).toBe(true);
  });

  it('never deletes a tag whose manifest a kept tag shares (the registry would delete both)', async () => {
    const { registry, retention } = await setup({ aliases: { prod: alias(1) } }, seven());
    registry.tags.set('v2', 'sha256:1'); // v2 and the aliased v1 are one manifest
    const r = await retention.collect('shop');
    expect(r.skipped).toEqual([{ tag: 'v2', reason: 'its manifest is also a kept image' }]);
    expect(registry.tags.has('v1')).toBe(true);
  });

  it('collects every function for the admin API, and a registry error leaves the tag and says why', async () => {
    const { registry, retention } = await setup({}, seven());
    registry.removeImage = async (_fn, tag) => {
      if (tag === 'v1') throw new Error('the registry refuses deletes; start it with REGISTRY_STORAGE_DELETE_ENABLED=true');
      registry.tags.delete(tag);
    };
    const [r] = await retention.collectAll();
    expect(r).toMatchObject({ function: 'shop', deleted: ['v2', 'v3', 'v4'], skipped: [{ tag: 'v1', reason: expect.stringMatching(/refuses deletes/) }] });
  });
});
