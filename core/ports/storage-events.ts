// The object-event port: every durable change of an object in the platform's storage is announced once
// (services/storage/ emits; control/triggers/storage-dispatcher.ts follows). Declared in core so that the
// control plane follows events without knowing the S3 service that makes them.

export type StorageEventName = 'ObjectCreated:Put' | 'ObjectCreated:Copy' | 'ObjectCreated:CompleteMultipartUpload' | 'ObjectRemoved:Delete';

export interface StorageEvent {
  name: StorageEventName;
  bucket: string;
  key: string;
  /** Bytes of the object (0 for a removal). */
  size: number;
  /** S3's ETag without quotes: md5 hex, or md5-of-md5s "-N" for a multipart object ('' for a removal). */
  etag: string;
  /** ISO 8601 time of the change. */
  time: string;
}

export type StorageListener = (event: StorageEvent) => void;

export interface StorageEvents {
  /** Calls `listener` for every object change from now on; the returned function unsubscribes. */
  onObject(listener: StorageListener): () => void;
}
