// A small client of the Distribution (Docker registry v2) HTTP API: what is there, and deleting a tag.
// The API deletes manifests by digest only, so a tag is first resolved with HEAD, asking for every
// manifest media type we may have pushed (docker v2, OCI, and their multi-platform lists).

import { StratusError } from '../core/errors.js';

const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

export class RegistryClient {
  readonly #base: string;

  /** `registry` is host:port as in image references (127.0.0.1:5000); plain http, as for a local registry. */
  constructor(registry: string, private readonly timeoutMs = 10_000) {
    this.#base = registry.includes('://') ? registry.replace(/\/$/, '') : `http://${registry}`;
  }

  /** Every repository, page by page (registries cap a page, typically at 1000). */
  async catalog(): Promise<string[]> {
    const PAGE = 500;
    const all: string[] = [];
    for (;;) {
      const last = all.length > 0 ? `&last=${encodeURIComponent(all.at(-1)!)}` : '';
      const res = await this.#request('GET', `/v2/_catalog?n=${PAGE}${last}`);
      const page = ((await res.json()) as { repositories?: string[] | null }).repositories ?? [];
      all.push(...page);
      if (page.length < PAGE) return all;
    }
  }

  /** Tags of a repository; [] when the repository is unknown or has none left. */
  async tags(repository: string): Promise<string[]> {
    const res = await this.#request('GET', `/v2/${repository}/tags/list`, undefined, [404]);
    if (res.status === 404) return [];
    const body = (await res.json()) as { tags?: string[] | null };
    return body.tags ?? [];
  }

  /** The manifest digest a tag points at, or null if the tag does not exist. */
  async digest(repository: string, tag: string): Promise<string | null> {
    const res = await this.#request('HEAD', `/v2/${repository}/manifests/${tag}`, { accept: MANIFEST_TYPES }, [404]);
    if (res.status === 404) return null;
    return res.headers.get('docker-content-digest');
  }

  /** Deletes the manifest behind a tag (and with it every tag of that manifest). False if there was none. */
  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const digest = await this.digest(repository, tag);
    if (!digest) return false;
    const res = await this.#request('DELETE', `/v2/${repository}/manifests/${digest}`, undefined, [404, 405]);
    if (res.status === 405) {
      throw new StratusError('INTERNAL', 'the registry refuses deletes; start it with REGISTRY_STORAGE_DELETE_ENABLED=true');
    }
    return res.status !== 404;
  }

  async #request(method: string, pathname: string, headers: Record<string, string> = {}, allowed: number[] = []): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.#base + pathname, { method, headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new StratusError('INTERNAL', `the registry at ${this.#base} cannot be reached`, {}, { cause: err });
    }
    if (res.ok || allowed.includes(res.status)) return res;
    await res.body?.cancel();
    throw new StratusError('INTERNAL', `the registry answered ${res.status} to ${method} ${pathname}`);
  }
}
