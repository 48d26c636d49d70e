// Storage quotas: bytes held per bucket (STRATUS_S3_BUCKET_QUOTA_MB) and in all buckets together
// (STRATUS_S3_QUOTA_MB). Held means on disk: objects, the parts of unfinished multipart uploads, and what
// writes in flight have reserved (their declared length up front, or each chunk as it arrives). The counts
// change only in synchronous steps — a reservation, the commit that swaps a reservation for the object's
// size and gives back the replaced object's, a delete — and start from what the disk holds, so restarts,
// failed and aborted writes and overwrites leave them exact. An overwrite needs room for its new bytes while
// the old are still stored (the quota bounds what the disk holds at any moment); the old are given back when
// it commits. A refusal is QuotaExceeded (403), the code Ceph's S3 gateway answers for its quotas: AWS has
// none, and a 403 is final to S3 clients, where a 5xx would be retried against a quota that will not move.

import { S3Error } from './errors.js';
import { Reservation, Tally } from './tally.js';

export interface QuotaSettings {
  /** Bytes per bucket; null: none. */
  bucketBytes: number | null;
  /** Bytes in all buckets together; null: none. */
  totalBytes: number | null;
}

const mib = (n: number) => `${Math.round((n / 1024 / 1024) * 10) / 10} MiB`;

export class StorageUsage {
  readonly total: Tally;
  private readonly buckets = new Map<string, Tally>();

  constructor(private readonly settings: QuotaSettings = { bucketBytes: null, totalBytes: null }) {
    // What other buckets hold is not told to a key that may not see them: the limit only.
    this.total = new Tally(settings.totalBytes, (wanted, _used, limit) => quotaExceeded(`all buckets together are at the storage quota (STRATUS_S3_QUOTA_MB, ${mib(limit)}); ${mib(wanted)} more do not fit`));
  }

  /** The bucket's tally, then the total: what a write into the bucket counts against. */
  tallies(bucket: string): Tally[] {
    let t = this.buckets.get(bucket);
    if (!t) {
      t = new Tally(this.settings.bucketBytes, (wanted, used, limit) => quotaExceeded(`bucket ${bucket} is at its quota (STRATUS_S3_BUCKET_QUOTA_MB, ${mib(limit)}): ${mib(used)} held, ${mib(wanted)} more asked; delete objects or abort unfinished uploads to make room`, bucket));
      this.buckets.set(bucket, t);
    }
    return [t, this.total];
  }

  /** A reservation in the bucket and the total (and any `more` tallies, such as an upload's). */
  reserve(bucket: string, bytes: number, more: Tally[] = [], leaving?: (t: Tally) => number): Reservation {
    const r = new Reservation([...more, ...this.tallies(bucket)], leaving);
    r.grow(bytes);
    return r;
  }

  /** Bytes held in a bucket (stored and reserved). */
  usedIn(bucket: string): number {
    return this.buckets.get(bucket)?.used ?? 0;
  }

  /**
   * A bucket gone (it was empty: no objects, no uploads, so it holds only what writes in flight reserved).
   * A new bucket of that name starts at 0; the reservations in flight keep their reference to the old tally
   * and give their bytes back to it and to the total as usual.
   */
  forget(bucket: string): void {
    this.buckets.delete(bucket);
  }
}

function quotaExceeded(message: string, bucket?: string): S3Error {
  return new S3Error('QuotaExceeded', `Quota exceeded: ${message}.`, bucket ? { BucketName: bucket } : {});
}
