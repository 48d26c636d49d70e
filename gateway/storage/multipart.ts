// Multipart uploads under <stateDir>/storage/uploads/<uploadId>/: upload.json (bucket, key, content type,
// user metadata), then part-<n> (bytes, written atomically) and part-<n>.json (etag, size) per part.
// Complete checks the client's part list against what arrived (ascending numbers, known parts, matching
// ETags, every part but the last at least 5 MiB), streams the parts into one temp file and commits it
// through the object store like any put; the ETag is S3's: md5 of the parts' binary md5s, "-<count>".

import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { writeAtomic, writeFileAtomic } from './disk.js';
import { S3Error } from './errors.js';
import type { NewObject, ObjectMeta, ObjectStore } from './object-store.js';

export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;

interface Upload extends NewObject {
  bucket: string;
  key: string;
  initiated: string;
}

export interface PartInfo {
  partNumber: number;
  etag: string;
  size: number;
  lastModified: string;
}

export class Multipart {
  private readonly root: string;
  /** Uploads being completed: a second Complete (a client retry) waits its turn and finds NoSuchUpload. */
  private readonly completing = new Set<string>();

  constructor(private readonly objects: ObjectStore, private readonly maxObjectBytes: number) {
    this.root = path.join(objects.root, 'uploads');
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.root, { recursive: true, mode: 0o700 });
  }

  async create(bucket: string, key: string, props: NewObject): Promise<string> {
    await this.objects.requireBucket(bucket);
    const id = randomUUID().replace(/-/g, '');
    const dir = path.join(this.root, id);
    await fsp.mkdir(dir, { mode: 0o700 });
    const upload: Upload = { bucket, key, ...props, initiated: new Date().toISOString() };
    await writeFileAtomic(this.objects.tmpDir, path.join(dir, 'upload.json'), JSON.stringify(upload));
    return id;
  }

  /** Uploads in progress in a bucket (a bucket with some is not empty). */
  async countIn(bucket: string): Promise<number> {
    let n = 0;
    for (const id of await fsp.readdir(this.root)) {
      const up = await this.read(id).catch(() => null);
      if (up?.bucket === bucket) n++;
    }
    return n;
  }

  private async read(id: string): Promise<Upload> {
    if (!/^[0-9a-f]{32}$/.test(id)) throw noSuchUpload(id);
    try {
      return JSON.parse(await fsp.readFile(path.join(this.root, id, 'upload.json'), 'utf8')) as Upload;
    } catch {
      throw noSuchUpload(id);
    }
  }

  private async get(bucket: string, key: string, id: string): Promise<Upload> {
    const up = await this.read(id);
    if (up.bucket !== bucket || up.key !== key) throw noSuchUpload(id);
    return up;
  }

  async uploadPart(bucket: string, key: string, id: string, partText: string, body: Readable): Promise<string> {
    const partNumber = /^\d{1,5}$/.test(partText) ? Number(partText) : NaN;
    if (!(partNumber >= 1 && partNumber <= MAX_PARTS)) throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`, { ArgumentName: 'partNumber' });
    await this.get(bucket, key, id);
    const dir = path.join(this.root, id);
    const written = await writeAtomic(this.objects.tmpDir, path.join(dir, `part-${partNumber}`), body);
    const info: PartInfo = { partNumber, etag: written.md5, size: written.size, lastModified: new Date().toISOString() };
    await writeFileAtomic(this.objects.tmpDir, path.join(dir, `part-${partNumber}.json`), JSON.stringify(info));
    return written.md5;
  }

  async listParts(bucket: string, key: string, id: string): Promise<PartInfo[]> {
    await this.get(bucket, key, id);
    const dir = path.join(this.root, id);
    const parts: PartInfo[] = [];
    for (const f of await fsp.readdir(dir)) {
      if (/^part-\d+\.json$/.test(f)) parts.push(JSON.parse(await fsp.readFile(path.join(dir, f), 'utf8')) as PartInfo);
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async complete(bucket: string, key: string, id: string, wanted: { partNumber: number; etag: string }[]): Promise<ObjectMeta> {
    if (this.completing.has(id)) throw noSuchUpload(id);
    this.completing.add(id);
    try {
      const up = await this.get(bucket, key, id);
      const have = new Map((await this.listParts(bucket, key, id)).map((p) => [p.partNumber, p]));
      if (wanted.length === 0) throw new S3Error('MalformedXML', 'You must specify at least one part.');
      const chosen: PartInfo[] = [];
      let total = 0;
      if (wanted.some((w, i) => i > 0 && w.partNumber <= wanted[i - 1]!.partNumber)) {
        throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.');
      }
      wanted.forEach((w, i) => {
        const part = have.get(w.partNumber);
        if (!part || part.etag !== w.etag.replace(/"/g, '')) {
          throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.', { PartNumber: String(w.partNumber), ETag: w.etag });
        }
        if (i < wanted.length - 1 && part.size < MIN_PART_BYTES) throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size: every part but the last must be at least 5 MiB.', { PartNumber: String(w.partNumber) });
        total += part.size;
        chosen.push(part);
      });
      if (total > this.maxObjectBytes) throw new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed object size (${this.maxObjectBytes} bytes).`);
      const dir = path.join(this.root, id);
      const etag = `${createHash('md5').update(Buffer.concat(chosen.map((p) => Buffer.from(p.etag, 'hex')))).digest('hex')}-${chosen.length}`;
      async function* parts(): AsyncIterable<Readable> {
        for (const p of chosen) yield fs.createReadStream(path.join(dir, `part-${p.partNumber}`));
      }
      const meta = await this.objects.put(bucket, key, parts, { contentType: up.contentType, userMeta: up.userMeta }, () => etag);
      await fsp.rm(dir, { recursive: true, force: true });
      return meta;
    } finally {
      this.completing.delete(id);
    }
  }

  async abort(bucket: string, key: string, id: string): Promise<void> {
    await this.get(bucket, key, id);
    await fsp.rm(path.join(this.root, id), { recursive: true, force: true });
  }
}

function noSuchUpload(id: string): S3Error {
  return new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: id.slice(0, 100) });
}
