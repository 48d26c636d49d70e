// Removing what builds left of a function: its tags in the registry, its local images, its artifacts.
// Each part is attempted even if another fails, so that deleting a function is never blocked by,
// say, a registry that is down; what could not be removed is logged for an operator.

import fsp from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Logger } from '../core/log.js';
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
    await this.#attempt('artifacts', fn, () => fsp.rm(path.join(this.o.stateDir, 'artifacts', fn), { recursive: true, force: true }));
  }

  async #purgeRegistry(fn: string): Promise<void> {
    const { registry } = this.o;
    if (!registry) return;
    const repo = this.o.repositoryPath(fn);
    for (const tag of await registry.tags(repo)) await registry.deleteTag(repo, tag);
  }

  async #purgeLocalImages(fn: string): Promise<void> {
    const { docker } = this.o;
    if (!docker) return;
    const prefix = `${this.o.repository(fn)}:`;
    const images = await docker.listImages({ filters: JSON.stringify({ label: [`dev.stratus.function=${fn}`] }) });
    for (const image of images) {
      for (const tag of image.RepoTags ?? []) {
        if (tag.startsWith(prefix)) await docker.getImage(tag).remove({ force: true }).catch((err: unknown) => this.o.logger.warn('could not remove a local image', { tag, err }));
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
