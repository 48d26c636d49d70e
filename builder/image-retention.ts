// Keeps the registry from growing with every build. Per function the images of its newest `kept`
// versions stay, and always the image of every version an alias points at (latest included) and the tag
// of a version still building; the function's other tags are deleted from the registry and locally.
// Deleting a tag frees no disk by itself: the registry's garbage collection (`npm run gc`,
// scripts/registry-gc.sh) then removes the blobs no manifest references any more.

import { aliasedVersions } from '../core/aliases.js';
import type { Clock } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { Store } from '../core/store/store.js';
import type { FunctionRecord, VersionRecord } from '../core/types.js';
import type { Purger } from './purge.js';

/** Why a tag stays: an alias serves its version, it is among the newest, or its build is under way. */
export type KeepReason = 'alias' | 'newest' | 'building';

export interface ImagePlan {
  keep: Map<string, KeepReason>;
  remove: string[];
}

/** Tags Stratus pushes: `v` and the version number (builder/image.ts imageTag). */
const VERSION_TAG = /^v(\d+)$/;

/** The tag of a version's image when it is one of ours (a user's own image is not), else null. */
function imageTagOf(v: VersionRecord, repository: string): string | null {
  return v.image?.startsWith(`${repository}:`) ? v.image.slice(repository.length + 1) : null;
}

/**
 * Which of a function's tags in the registry stay and which go. Pure: the caller reads the tags first,
 * then the records, so a build that pushes meanwhile is either unseen (its tag not listed) or building.
 * The newest count distinct images (a PATCH version runs its parent's image), whatever protects them.
 */
export function planImages(fn: Pick<FunctionRecord, 'currentVersion' | 'aliases'>, versions: readonly VersionRecord[], tags: readonly string[], repository: string, kept: number): ImagePlan {
  const tagOf = (v: VersionRecord) => imageTagOf(v, repository);
  const keep = new Map<string, KeepReason>();
  const aliased = aliasedVersions(fn);
  for (const v of versions) {
    const tag = tagOf(v);
    if (tag !== null && aliased.has(v.version)) keep.set(tag, 'alias');
    if (v.status === 'building') keep.set(`v${v.version}`, 'building');
  }
  const newest = new Set<string>();
  for (const v of [...versions].sort((a, b) => b.version - a.version)) {
    const tag = v.status === 'ready' ? tagOf(v) : null;
    if (tag === null || newest.has(tag)) continue;
    if (newest.size >= kept) break;
    newest.add(tag);
    if (!keep.has(tag)) keep.set(tag, 'newest');
  }
  return { keep, remove: tags.filter((t) => VERSION_TAG.test(t) && !keep.has(t)).sort(byVersion) };
}

/** v2 before v10; other tags after, by name. */
function byVersion(a: string, b: string): number {
  const [x, y] = [VERSION_TAG.exec(a)?.[1], VERSION_TAG.exec(b)?.[1]];
  return x !== undefined && y !== undefined ? Number(x) - Number(y) : x !== undefined ? -1 : y !== undefined ? 1 : a.localeCompare(b);
}

export interface ImageGcResult {
  function: string;
  /** Tags left in the registry, with why. */
  kept: Array<{ tag: string; reason: KeepReason }>;
  deleted: string[];
  /** Tags that should have gone but stayed, with why (a shared manifest, an alias that moved, an error). */
  skipped: Array<{ tag: string; reason: string }>;
}

export interface ImageRetentionOptions {
  store: Store;
  /** The registry's and Docker's side (purge.ts); a test passes an in-memory one. */
  purger: Pick<Purger, 'registryTags' | 'digest' | 'removeImage'>;
  /** The function's image repository with the registry host, as version records name images. */
  repository: (fn: string) => string;
  /** Images kept per function besides those aliases use (STRATUS_IMAGES_KEPT). */
  kept: number;
  clock: Clock;
  logger: Logger;
}

export class ImageRetention {
  /** One collection per function at a time: after a build and from the API they must not interleave. */
  readonly #chains = new Map<string, Promise<ImageGcResult>>();
  #closed = false;

  constructor(private readonly o: ImageRetentionOptions) {}

  /** Every function's old images (POST /v1/admin/gc). */
  async collectAll(): Promise<ImageGcResult[]> {
    const out: ImageGcResult[] = [];
    for (const fn of await this.o.store.listFunctions()) out.push(await this.collect(fn.name));
    return out;
  }

  collect(name: string): Promise<ImageGcResult> {
    const next = (this.#chains.get(name) ?? Promise.resolve()).catch(() => {}).then(() => this.#collect(name));
    this.#chains.set(name, next);
    void next.finally(() => {
      if (this.#chains.get(name) === next) this.#chains.delete(name);
    }).catch(() => {});
    return next;
  }

  /** After a build: logged, never thrown (the build succeeded whatever the registry says). */
  collectInBackground(name: string): void {
    if (this.#closed) return;
    this.collect(name).then(
      (r) => r.deleted.length > 0 && this.o.logger.info('deleted old images', { function: name, deleted: r.deleted, kept: r.kept.map((k) => k.tag) }),
      (err: unknown) => this.o.logger.warn('could not delete old images', { function: name, err }),
    );
  }

  /** Waits for the collections under way (before the store closes); none starts in the background after. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#chains.values()]);
  }

  async #collect(name: string): Promise<ImageGcResult> {
    const result: ImageGcResult = { function: name, kept: [], deleted: [], skipped: [] };
    const tags = await this.o.purger.registryTags(name); // before the records: see planImages
    const fn = await this.o.store.getFunction(name);
    if (!fn || tags.length === 0) return result;
    const repository = this.o.repository(name);
    const versions = await this.o.store.listVersions(name);
    const plan = planImages(fn, versions, tags, repository, this.o.kept);
    for (const tag of [...tags].sort(byVersion)) {
      const reason = plan.keep.get(tag);
      if (reason) result.kept.push({ tag, reason });
    }
    // Deleting a tag deletes its manifest, and every tag of that manifest with it: never one a kept tag shares.
    const keptDigests = new Set(await Promise.all(result.kept.map((k) => this.o.purger.digest(name, k.tag))));
    for (const tag of plan.remove) {
      try {
        const digest = await this.o.purger.digest(name, tag);
        if (digest === null) continue; // gone meanwhile
        if (keptDigests.has(digest)) {
          result.skipped.push({ tag, reason: 'its manifest is also a kept image' });
          continue;
        }
        // An alias may have moved to a version running this image (its own, or a PATCH of it) since the plan.
        const now = await this.o.store.getFunction(name);
        const users = versions.filter((v) => imageTagOf(v, repository) === tag);
        const aliased = now ? aliasedVersions(now) : new Set<number>();
        if (!now || users.some((v) => aliased.has(v.version))) {
          result.skipped.push({ tag, reason: now ? 'an alias points at it now' : 'the function is gone' });
          continue;
        }
        await this.o.purger.removeImage(name, tag);
        result.deleted.push(tag);
        for (const v of users) await this.#markDeleted(v);
      } catch (err) {
        result.skipped.push({ tag, reason: (err as Error).message });
      }
    }
    return result;
  }

  /** The version record says its image is gone, so the versions API shows why it cannot start again. */
  async #markDeleted(seen: VersionRecord): Promise<void> {
    const v = await this.o.store.getVersion(seen.function, seen.version);
    if (v && v.image === seen.image && !v.imageDeletedAt) await this.o.store.putVersion({ ...v, imageDeletedAt: new Date(this.o.clock.now()).toISOString() });
  }
}
