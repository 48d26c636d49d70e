// Removing what builds left of a function: its tags in the registry, its local images, its artifacts.
// Each part is attempted even if another fails, so that deleting a function is never blocked by,
// say, a registry that is down; what could not be removed is logged for an operator. The same calls
// remove one old version's image (image-retention.ts).

import fsp from 'node:fs/promises';
import type Docker from 'dockerode';
import type { Logger } from '../core/log.js';
import { StateLayout } from '../core/state-layout.js';
import type { RegistryClient } from './registry.js';

export interface PurgerOptions {
  docker: Docker | null;
  registry: RegistryClient | null;
  /** Repository of a function's images without the registry host, e.g. "stratus/hello". */
  repositoryPath: (fn: string) => string;
  /** Full repository with the registry host, as local tags are named. */
  repository: (fn: string) => string;
  stateDir: string;
  logger: Logger;
}

export class Purger {
  constructor(private readonly o: PurgerOptions) {}

  async purge(fn: string): Promise<void> {
    await this.#attempt('registry tags', fn, () => this.#purgeRegistry(fn));
    await this.#attempt('local images', fn, () => this.#purgeLocalImages(fn));
    await this.#attempt('artifacts', fn, () => fsp.rm(new StateLayout(this.o.stateDir).artifactsOf(fn), { recursive: true, force: true }));
  }

  /** Tags of the function's images in the registry; [] without a registry (process backend). */
  async registryTags(fn: string): Promise<string[]> {
    return this.o.registry ? this.o.registry.tags(this.o.repositoryPath(fn)) : [];
  }

  /** The manifest digest behind one tag; null when it is gone or there is no registry. */
  async digest(fn: string, tag: string): Promise<string | null> {
    return this.o.registry ? this.o.registry.digest(this.o.repositoryPath(fn), tag) : null;
  }

  /**
   * One image gone: its manifest from the registry (a registry that refuses throws: the tag stays) and
   * the local tag (a failure there is logged; the registry's copy is the one of record).
   */
  async removeImage(fn: string, tag: string): Promise<void> {
    await this.o.registry?.deleteTag(this.o.repositoryPath(fn), tag);
    await this.#removeLocal(`${this.o.repository(fn)}:${tag}`);
  }

  async #purgeRegistry(fn: string): Promise<void> {
    const { registry } = this.o;
    if (!registry) return;
    const repo = this.o.repositoryPath(fn);
    for (const tag of await registry.tags(repo)) await registry.deleteTag(repo, tag);
  }

  async #removeLocal(tag: string): Promise<void> {
    const { docker } = this.o;
    if (!docker) return;
    await docker.getImage(tag).remove({ force: true }).catch((err: unknown) => {
      if ((err as { statusCode?: number }).statusCode !== 404) this.o.logger.warn('could not remove a local image', { tag, err });
    });
  }

  async #purgeLocalImages(fn: string): Promise<void> {
    const { docker } = this.o;
    if (!docker) return;
    const prefix = `${this.o.repository(fn)}:`;
    const images = await docker.listImages({ filters: JSON.stringify({ label: [`dev.stratus.function=${fn}`] }) });
    for (const image of images) {
      for (const tag of image.RepoTags ?? []) {
        if (tag.startsWith(prefix)) await this.#removeLocal(tag);
      }
    }
  }

  async #attempt(what: string, fn: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (err) {
      this.o.logger.warn(`purge: could not remove the ${what} of a function`, { function: fn, err });
    }
  }
}
