// The seam storage triggers hang on: every durable change of an object is announced once, after the data
// and its metadata are on disk (renamed into place and fsynced), never for a write that failed. Listeners
// run synchronously in order; one that throws is logged and does not disturb the request or the others.

import type { Logger } from '../../core/log.js';

import type { StorageEvent, StorageEvents, StorageListener } from '../../core/ports/storage-events.js';

export class StorageEventHub implements StorageEvents {
  private readonly listeners = new Set<StorageListener>();

  constructor(private readonly logger: Logger) {}

  onObject(listener: StorageListener): () => void {
    const entry: StorageListener = (e) => listener(e); // a distinct entry per subscription
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  emit(event: StorageEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn('storage event listener failed', { event: event.name, bucket: event.bucket, err });
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
