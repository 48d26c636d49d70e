// Reading an unfinished multipart upload back from disk at start, and dropping what a crash left half
// written: a directory without upload.json (the crash came between mkdir and its write) goes; a part whose
// .json names bytes that are missing or of another size goes (its client never had an answer for it and
// will send it again); a bytes file no .json names goes. What is left is exactly what the counts hold.

import fsp from 'node:fs/promises';
import path from 'node:path';
import { partFile, partRecord, UPLOAD_RECORD, type PartInfo, type Upload } from './upload-files.js';

export async function loadUpload(dir: string): Promise<{ up: Upload; parts: PartInfo[] } | null> {
  let up: Upload;
  try {
    up = JSON.parse(await fsp.readFile(path.join(dir, UPLOAD_RECORD), 'utf8')) as Upload;
    if (typeof up.bucket !== 'string' || typeof up.key !== 'string') throw new Error('not an upload record');
  } catch {
    await fsp.rm(dir, { recursive: true, force: true });
    return null;
  }
  const files = await fsp.readdir(dir);
  const parts: PartInfo[] = [];
  const kept = new Set([UPLOAD_RECORD]);
  for (const f of files) {
    if (!/^part-\d+\.json$/.test(f)) continue;
    const info = await readPart(path.join(dir, f));
    const data = info ? partFile(info) : undefined;
    const size = data && path.basename(data) === data ? await fsp.stat(path.join(dir, data)).then((s) => s.size, () => -1) : -1;
    if (!info || size !== info.size || partRecord(info.partNumber) !== f) {
      await fsp.rm(path.join(dir, f), { force: true });
      continue;
    }
    kept.add(f).add(data!);
    parts.push(info);
  }
  for (const f of files) if (!kept.has(f)) await fsp.rm(path.join(dir, f), { force: true });
  return { up, parts };
}

async function readPart(file: string): Promise<PartInfo | null> {
  try {
    const info = JSON.parse(await fsp.readFile(file, 'utf8')) as PartInfo;
    return Number.isInteger(info.partNumber) && Number.isSafeInteger(info.size) && info.size >= 0 && typeof info.etag === 'string' ? info : null;
  } catch {
    return null;
  }
}
