// Multipart uploads under <stateDir>/storage/uploads/<uploadId>/ (the names: upload-files.ts): upload.json
// (bucket, key, content type, user metadata, when it began), then per part its bytes in part-<n>.<uuid> and
// part-<n>.json (etag, size, data file): the .json is the part's commit, so a part re-sent while an earlier
// copy is still arriving never pairs one copy's bytes with the other's ETag. Every live upload is also held
// in memory with its parts and a byte count bounded by the object size limit: an UploadPart that would take
// the upload past it is refused (EntityTooLarge) when it starts, or at the chunk that crosses it, before
// anything is kept; the part's bytes count against the quotas too (quota.ts). Complete checks the client's
// part list against what arrived (ascending numbers, known parts, matching ETags, every part but the last at
// least 5 MiB), streams the parts into one file and commits it through the object store like any put; the
// ETag is S3's: md5 of the parts' binary md5s, "-<count>". Uploads not completed within the expiry are
// removed by sweep() (upload-expiry.ts runs it), S3's AbortIncompleteMultipartUpload with one rule for every
// bucket.

import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { writeAtomic, writeFileAtomic } from './disk.js';
import { S3Error } from './errors.js';
import { metered } from './metered.js';
import type { NewObject, ObjectMeta, ObjectStore } from './object-store.js';
import { count, Tally } from './tally.js';
import { Turns } from './turns.js';
import { loadUpload } from './upload-disk.js';
import { partFile, partRecord, UPLOAD_RECORD, type PartInfo, type Upload } from './upload-files.js';

export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;

/** An upload in progress, as this process holds it. */
export interface LiveUpload {
  up: Upload;
  /** Milliseconds since the epoch (from up.initiated). */
  initiatedAt: number;
  parts: Map<number, PartInfo>;
  /** Bytes of its parts, stored and arriving; bounded by the object size limit. */
  tally: Tally;
}

export interface MultipartSettings {
  maxObjectBytes: number;
  /** An upload not completed this long after it began is removed by sweep(). */
  expiryMs: number;
  /** Milliseconds since the epoch (tests move it). */
  now: () => number;
}

export class Multipart {
  readonly root: string;
  private readonly lives = new Map<string, LiveUpload>();
  /** Uploads being completed: a second Complete (a client retry), an Abort or the sweep finds NoSuchUpload. */
  private readonly completing = new Set<string>();
  private readonly turns = new Turns();

  constructor(private readonly objects: ObjectStore, private readonly settings: MultipartSettings) {
    this.root = path.join(objects.root, 'uploads');
  }

  /** Reads every upload on disk (dropping what a crash left half-written) and counts its parts' bytes. */
  async init(): Promise<void> {
    await fsp.mkdir(this.root, { recursive: true, mode: 0o700 });
    for (const id of await fsp.readdir(this.root)) {
      if (!/^[0-9a-f]{32}$/.test(id)) continue;
      const loaded = await loadUpload(path.join(this.root, id));
      if (!loaded) continue;
      const initiatedAt = Date.parse(loaded.up.initiated);
      this.track(id, loaded.up, Number.isNaN(initiatedAt) ? this.settings.now() : initiatedAt, loaded.parts);
    }
  }

  private track(id: string, up: Upload, initiatedAt: number, parts: PartInfo[]): LiveUpload {
    const live: LiveUpload = { up, initiatedAt, parts: new Map(parts.map((p) => [p.partNumber, p])), tally: this.uploadTally() };
    this.lives.set(id, live);
    count([live.tally, ...this.objects.usage.tallies(up.bucket)], parts.reduce((n, p) => n + p.size, 0));
    return live;
  }

  private uploadTally(): Tally {
    return new Tally(this.settings.maxObjectBytes, (wanted, used, limit) =>
      new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed object size (${limit} bytes): the upload's parts hold ${used} bytes and this part brings ${wanted} more.`, { MaxSizeAllowed: String(limit), ProposedSize: String(used + wanted) }),
    );
  }

  async create(bucket: string, key: string, props: NewObject): Promise<string> {
    await this.objects.requireBucket(bucket);
    const id = randomUUID().replace(/-/g, '');
    const dir = path.join(this.root, id);
    await fsp.mkdir(dir, { mode: 0o700 });
    const initiatedAt = this.settings.now();
    const upload: Upload = { bucket, key, ...props, initiated: new Date(initiatedAt).toISOString() };
    try {
      await writeFileAtomic(this.objects.tmpDir, path.join(dir, UPLOAD_RECORD), JSON.stringify(upload));
    } catch (err) {
      await fsp.rm(dir, { recursive: true, force: true });
      throw err;
    }
    this.track(id, upload, initiatedAt, []);
    return id;
  }

  /** Uploads in progress in a bucket (a bucket with some is not empty). */
  countIn(bucket: string): number {
    let n = 0;
    for (const live of this.lives.values()) if (live.up.bucket === bucket) n++;
    return n;
  }

  private live(bucket: string, key: string, id: string): LiveUpload {
    const live = this.lives.get(id);
    if (!live || live.up.bucket !== bucket || live.up.key !== key || this.completing.has(id)) throw noSuchUpload(id);
    return live;
  }

  /** `declared`: the part's length when the client gave it, reserved before a byte is read. */
  async uploadPart(bucket: string, key: string, id: string, partText: string, body: Readable, declared: number | undefined): Promise<string> {
    const partNumber = /^\d{1,5}$/.test(partText) ? Number(partText) : NaN;
    if (!(partNumber >= 1 && partNumber <= MAX_PARTS)) throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`, { ArgumentName: 'partNumber' });
    const live = this.live(bucket, key, id);
    // A re-sent part replaces the copy before it: the object's bound counts the new one only (a retried last
    // part of an upload at the limit still fits). The quotas count both while both are on disk.
    const reservation = this.objects.usage.reserve(bucket, declared ?? 0, [live.tally], (t) => (t === live.tally ? (live.parts.get(partNumber)?.size ?? 0) : 0));
    const dir = path.join(this.root, id);
    const data = `part-${partNumber}.${randomUUID()}`;
    const gone = () => this.lives.get(id) !== live || this.completing.has(id);
    try {
      const written = await writeAtomic(this.objects.tmpDir, path.join(dir, data), metered(body, reservation));
      const info: PartInfo = { partNumber, etag: written.md5, size: written.size, lastModified: new Date(this.settings.now()).toISOString(), data };
      const replaced = await this.turns.run(`${id}/${partNumber}`, async () => {
        if (gone()) throw noSuchUpload(id);
        await writeFileAtomic(this.objects.tmpDir, path.join(dir, partRecord(partNumber)), JSON.stringify(info));
        // Aborted, expired or being completed while the .json was written: the directory goes with it.
        if (gone()) throw noSuchUpload(id);
        const old = live.parts.get(partNumber);
        live.parts.set(partNumber, info);
        reservation.release();
        count([live.tally, ...this.objects.usage.tallies(bucket)], info.size - (old?.size ?? 0));
        return old;
      });
      if (replaced) await fsp.rm(path.join(dir, partFile(replaced)), { force: true });
      return written.md5;
    } catch (err) {
      reservation.release();
      if (gone()) {
        await fsp.rm(path.join(dir, data), { force: true }).catch(() => {});
        throw noSuchUpload(id);
      }
      await fsp.rm(path.join(dir, data), { force: true });
      throw err;
    }
  }

  listParts(bucket: string, key: string, id: string): PartInfo[] {
    return [...this.live(bucket, key, id).parts.values()].sort((a, b) => a.partNumber - b.partNumber);
  }

  async complete(bucket: string, key: string, id: string, wanted: { partNumber: number; etag: string }[]): Promise<ObjectMeta> {
    const live = this.live(bucket, key, id);
    this.completing.add(id);
    try {
      if (wanted.length === 0) throw new S3Error('MalformedXML', 'You must specify at least one part.');
      const chosen: PartInfo[] = [];
      let total = 0;
      if (wanted.some((w, i) => i > 0 && w.partNumber <= wanted[i - 1]!.partNumber)) {
        throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.');
      }
      wanted.forEach((w, i) => {
        const part = live.parts.get(w.partNumber);
        if (!part || part.etag !== w.etag.replace(/"/g, '')) {
          throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.', { PartNumber: String(w.partNumber), ETag: w.etag });
        }
        if (i < wanted.length - 1 && part.size < MIN_PART_BYTES) throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size: every part but the last must be at least 5 MiB.', { PartNumber: String(w.partNumber) });
        total += part.size;
        chosen.push(part);
      });
      // Parts are bounded as they arrive; this holds for uploads begun under a larger STRATUS_S3_MAX_OBJECT_MB.
      if (total > this.settings.maxObjectBytes) throw new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed object size (${this.settings.maxObjectBytes} bytes).`);
      const dir = path.join(this.root, id);
      const etag = `${createHash('md5').update(Buffer.concat(chosen.map((p) => Buffer.from(p.etag, 'hex')))).digest('hex')}-${chosen.length}`;
      async function* parts(): AsyncIterable<Readable> {
        for (const p of chosen) yield fs.createReadStream(path.join(dir, partFile(p)));
      }
      // The parts' bytes become the object's in the commit's synchronous step: no second reservation (the
      // quota already holds them), so a Complete is never refused for room its parts were given.
      const meta = await this.objects.put(bucket, key, parts, { contentType: live.up.contentType, userMeta: live.up.userMeta }, { etagOf: () => etag, onCommit: () => this.forget(id) });
      await fsp.rm(dir, { recursive: true, force: true });
      return meta;
    } finally {
      this.completing.delete(id);
    }
  }

  async abort(bucket: string, key: string, id: string): Promise<void> {
    this.live(bucket, key, id);
    await this.remove(id);
  }

  /** Removes every upload begun more than the expiry ago (not one being completed); returns their ids. */
  async sweep(): Promise<string[]> {
    const cutoff = this.settings.now() - this.settings.expiryMs;
    const expired = [...this.lives].filter(([id, live]) => live.initiatedAt <= cutoff && !this.completing.has(id)).map(([id]) => id);
    for (const id of expired) await this.remove(id);
    return expired;
  }

  /** Forgets an upload at once (its bytes leave the counts), then deletes its directory. */
  private async remove(id: string): Promise<void> {
    this.forget(id);
    await fsp.rm(path.join(this.root, id), { recursive: true, force: true });
  }

  private forget(id: string): void {
    const live = this.lives.get(id);
    if (!live) return;
    this.lives.delete(id);
    let bytes = 0;
    for (const p of live.parts.values()) bytes += p.size;
    count(this.objects.usage.tallies(live.up.bucket), -bytes);
  }
}

function noSuchUpload(id: string): S3Error {
  return new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: id.slice(0, 100) });
}
