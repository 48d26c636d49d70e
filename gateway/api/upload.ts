// Multipart upload of a function: a `config` field (JSON) and a `code` file part streamed straight to
// disk under the size limit. Nothing is buffered in memory; an over-limit or failed upload leaves no
// partial file behind.

import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type http from 'node:http';
import busboy from 'busboy';
import { StratusError } from '../../core/errors.js';

export interface UploadedCode {
  path: string;
  /** The sanitised original file name: tells the builder a .zip from a .tar.gz from a single file. */
  name: string;
  bytes: number;
}

export interface ParsedUpload {
  configText: string | undefined;
  code: UploadedCode | undefined;
}

/** Keeps the extension (.tar.gz, .zip, .py) while refusing anything that could walk out of the directory. */
export function sanitiseFileName(raw: string | undefined): string {
  const base = path.basename((raw ?? '').replace(/\\/g, '/'));
  const cleaned = base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '').slice(-200);
  return cleaned.length > 0 ? cleaned : 'code';
}

const MAX_CONFIG_BYTES = 1024 * 1024;

const mb = (n: number) => `${Math.round((n / 1024 / 1024) * 10) / 10} MB`;

/**
 * Parses the request into `dir` (created here). On any failure the directory is removed and a
 * StratusError thrown: 413 over `maxBytes`, 400 for a malformed form.
 */
export async function parseUpload(req: http.IncomingMessage, dir: string, maxBytes: number): Promise<ParsedUpload> {
  await fs.promises.mkdir(dir, { recursive: true });
  try {
    return await receive(req, dir, maxBytes);
  } catch (err) {
    await fs.promises.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function receive(req: http.IncomingMessage, dir: string, maxBytes: number): Promise<ParsedUpload> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 2, fields: 8, fieldSize: MAX_CONFIG_BYTES, parts: 10 } });
    } catch {
      reject(new StratusError('INVALID_REQUEST', 'the multipart body has no boundary; send it as multipart/form-data', { field: 'content-type' }));
      return;
    }
    let configText: string | undefined;
    let code: UploadedCode | undefined;
    let tooLarge = false;
    let configTooLarge = false;
    const writes: Promise<void>[] = [];

    bb.on('field', (name, value) => {
      if (name === 'config') configText = value;
    });
    bb.on('file', (name, stream, info) => {
      if (name === 'config' && configText === undefined) {
        // Clients that send the config as a Blob (fetch's FormData) make it a file part: read it as text.
        const chunks: Buffer[] = [];
        let size = 0;
        stream.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_CONFIG_BYTES) chunks.push(chunk);
        });
        stream.on('end', () => {
          if (size > MAX_CONFIG_BYTES) configTooLarge = true;
          else configText = Buffer.concat(chunks).toString('utf8');
        });
        return;
      }
      if (name !== 'code' || code !== undefined) {
        stream.resume();
        return;
      }
      const fileName = sanitiseFileName(info.filename);
      const target = path.join(dir, fileName);
      const entry: UploadedCode = { path: target, name: fileName, bytes: 0 };
      code = entry;
      stream.on('data', (chunk: Buffer) => (entry.bytes += chunk.length));
      stream.on('limit', () => (tooLarge = true));
      writes.push(pipeline(stream, fs.createWriteStream(target)));
    });
    bb.on('error', () => reject(new StratusError('INVALID_REQUEST', 'the multipart body is malformed', { field: 'body' })));
    bb.on('close', () => {
      Promise.all(writes).then(
        () => {
          if (configTooLarge) {
            reject(new StratusError('PAYLOAD_TOO_LARGE', `the config part exceeds ${MAX_CONFIG_BYTES / 1024} KB`, { field: 'config', limitBytes: MAX_CONFIG_BYTES }));
          } else if (tooLarge) {
            reject(new StratusError('PAYLOAD_TOO_LARGE', `the code part exceeds the upload limit of ${mb(maxBytes)} (STRATUS_MAX_UPLOAD_MB)`, { field: 'code', limitBytes: maxBytes }));
          } else {
            resolve({ configText, code });
          }
        },
        () => reject(new StratusError('INVALID_REQUEST', 'the upload was interrupted', { field: 'code' })),
      );
    });
    req.on('aborted', () => reject(new StratusError('INVALID_REQUEST', 'the upload was interrupted', { field: 'code' })));
    req.pipe(bb);
  });
}
