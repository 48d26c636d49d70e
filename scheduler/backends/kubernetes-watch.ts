// One watch on this platform's pods per backend (not one per listener), list-then-watch as every
// Kubernetes controller does: a list gives the resourceVersion to watch from, each event advances it,
// and a watch that ends (the API server closes them every few minutes) is re-opened from where it
// stopped. When that version is too old (410 Expired) the pods are listed again and handed to the
// listener as 'SYNC' (and pods gone meanwhile as 'DELETED'), so an exit in the gap is not lost.
// close() aborts the request.

import { Watch, type CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../core/log.js';

export type PodEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'SYNC';

export interface PodWatchOptions {
  kubeConfig: KubeConfig;
  api: CoreV1Api;
  namespace: string;
  labelSelector: string;
  log: Logger;
  /** Delay before re-opening after a failure (a normal end is re-opened at once). */
  retryMs?: number;
}

export class PodWatch {
  readonly #o: PodWatchOptions;
  readonly #watch: Watch;
  readonly #listeners = new Set<(type: PodEventType, pod: V1Pod) => void>();
  #controller: AbortController | null = null;
  #opening = false;
  #connected = false;
  #closed = false;
  #retry: NodeJS.Timeout | null = null;
  /** Where the next watch starts; undefined: list first. */
  #resourceVersion: string | undefined;
  #listed = false;
  /** Last known state of each pod by name: what a re-list compares against to find pods deleted in a gap. */
  readonly #pods = new Map<string, V1Pod>();
  /** Which open() a done callback belongs to: a late callback of an old watch must not touch the new one. */
  #generation = 0;

  constructor(opts: PodWatchOptions) {
    this.#o = opts;
    this.#watch = new Watch(opts.kubeConfig);
  }

  subscribe(listener: (type: PodEventType, pod: V1Pod) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#controller && !this.#opening && !this.#retry) void this.#open();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Resolves once the watch request is answered (tests use it to not miss an event raised right away). */
  async ready(): Promise<void> {
    while (!this.#closed && !this.#connected) await new Promise((r) => setTimeout(r, 5));
  }

  close(): void {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#controller?.abort();
    this.#controller = null;
    this.#listeners.clear();
    this.#pods.clear();
  }

  async #open(): Promise<void> {
    this.#opening = true;
    try {
      if (this.#resourceVersion === undefined) await this.#list();
      if (this.#closed) return;
      const path = `/api/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/pods`;
      const query = { labelSelector: this.#o.labelSelector, resourceVersion: this.#resourceVersion, allowWatchBookmarks: true };
      const gen = ++this.#generation;
      let ended = false;
      const controller = await this.#watch.watch(path, query, (type, obj) => this.#onEvent(type, obj), (err) => {
        ended = true;
        if (gen === this.#generation) this.#ended(err);
      });
      if (this.#closed || ended) {
        controller.abort();
        return;
      }
      this.#controller = controller;
      this.#connected = true;
    } catch (err) {
      this.#o.log.warn('cannot watch pods; retrying', { error: (err as Error).message });
      this.#scheduleOpen(this.#o.retryMs ?? 1000);
    } finally {
      this.#opening = false;
    }
  }

  async #list(): Promise<void> {
    const list = await this.#o.api.listNamespacedPod({ namespace: this.#o.namespace, labelSelector: this.#o.labelSelector });
    this.#resourceVersion = list.metadata?.resourceVersion ?? '';
    // The first list only marks where watching starts; a re-list after a gap may hold exits we missed.
    const names = new Set(list.items.map((p) => p.metadata?.name ?? ''));
    if (this.#listed) {
      for (const [name, pod] of this.#pods) if (!names.has(name)) this.#emit('DELETED', pod);
      for (const pod of list.items) this.#emit('SYNC', pod);
    }
    this.#pods.clear();
    for (const pod of list.items) this.#pods.set(pod.metadata?.name ?? '', pod);
    this.#listed = true;
  }

  #ended(err: unknown): void {
    this.#controller = null;
    this.#connected = false;
    if (this.#closed) return;
    if ((err as { statusCode?: number } | null)?.statusCode === 410) this.#resourceVersion = undefined;
    if (err) this.#o.log.warn('pod watch failed; re-opening', { error: (err as Error).message ?? String(err) });
    this.#scheduleOpen(err ? (this.#o.retryMs ?? 1000) : 0);
  }

  #scheduleOpen(ms: number): void {
    if (this.#closed || this.#retry || this.#listeners.size === 0) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.#open();
    }, ms);
  }

  #onEvent(type: string, obj: unknown): void {
    const o = obj as { code?: number; metadata?: { resourceVersion?: string } };
    if (type === 'ERROR') {
      // 410 Expired: the version we watch from is compacted away; list again before watching.
      if (o.code === 410) this.#resourceVersion = undefined;
      this.#o.log.warn('pod watch reported an error; re-opening', { code: o.code });
      const controller = this.#controller;
      this.#generation++; // its done callback, caused by this abort, is not a failure to retry slowly
      controller?.abort();
      this.#ended(null);
      return;
    }
    if (o.metadata?.resourceVersion) this.#resourceVersion = o.metadata.resourceVersion;
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
    const pod = obj as V1Pod;
    if (type === 'DELETED') this.#pods.delete(pod.metadata?.name ?? '');
    else this.#pods.set(pod.metadata?.name ?? '', pod);
    this.#emit(type, pod);
  }

  #emit(type: PodEventType, pod: V1Pod): void {
    for (const l of [...this.#listeners]) {
      try {
        l(type, pod);
      } catch (err) {
        this.#o.log.error('pod event listener threw', { error: err as Error });
      }
    }
  }
}
