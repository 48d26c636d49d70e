// One multipart upload's files in its directory (<storage>/uploads/<uploadId>/), written by multipart.ts
// and read back at start by upload-disk.ts: the upload's record, and per part a record (its commit) and
// its bytes. Apart from both, so that neither has to import the other for the shapes they share.

import type { NewObject } from './object-store.js';

/** The upload's record: bucket, key, content type, user metadata, when it began. */
export const UPLOAD_RECORD = 'upload.json';

export interface Upload extends NewObject {
  bucket: string;
  key: string;
  initiated: string;
}

export interface PartInfo {
  partNumber: number;
  etag: string;
  size: number;
  lastModified: string;
  /** The file of its bytes in the upload's directory (absent in uploads begun before: part-<n>). */
  data?: string;
}

/** A part's record: written after its bytes, it is the part's commit. */
export const partRecord = (partNumber: number): string => `part-${partNumber}.json`;

/** The file of a part's bytes. */
export const partFile = (p: PartInfo): string => p.data ?? `part-${p.partNumber}`;
