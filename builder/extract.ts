// Safe extraction of an upload into a fresh directory: a zip, a tar(.gz), or one source file. The
// format is told by magic bytes (a name can lie); the name is only a hint for single source files.
// Every refusal is a BAD_ARCHIVE with its own message; on refusal the target directory is removed.

import { createReadStream } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { extractTar } from './extract-tar.js';
import { extractZip } from './extract-zip.js';
import { badArchive, SafeTree, type ExtractLimits } from './safe-tree.js';

export type { ExtractLimits } from './safe-tree.js';

export type UploadKind = 'zip' | 'tar' | 'tar.gz' | 'file';

export interface Extraction {
  dir: string;
  kind: UploadKind;
  entries: number;
  unpackedBytes: number;
  /** Set when the upload was a single source file: its name in `dir` (e.g. "hello.js"). */
  singleFile: string | null;
}

export const SOURCE_EXTENSIONS = ['.js', '.mjs', '.cjs', '.py'] as const;

const OTHER_FORMATS: { magic: number[]; offset?: number; name: string }[] = [
  { magic: [0x42, 0x5a, 0x68], name: 'bzip2' },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], name: 'xz' },
  { magic: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], name: '7z' },
  { magic: [0x52, 0x61, 0x72, 0x21], name: 'rar' },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], name: 'zstd' },
];

const startsWith = (buf: Buffer, magic: number[], offset = 0) => magic.every((b, i) => buf[offset + i] === b);

/** Tells the upload's format from its first bytes; the name only decides for plain source files. */
export function detectKind(head: Buffer, sourceName: string): UploadKind {
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04]) || startsWith(head, [0x50, 0x4b, 0x05, 0x06])) return 'zip';
  if (startsWith(head, [0x1f, 0x8b])) return 'tar.gz';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  const other = OTHER_FORMATS.find((f) => startsWith(head, f.magic, f.offset));
  if (other) throw badArchive(`${other.name} archives are not supported; upload a .zip, .tar.gz, .tar or a single .js/.mjs/.cjs/.py file`);
  const ext = path.extname(sourceName).toLowerCase();
  if ((SOURCE_EXTENSIONS as readonly string[]).includes(ext) && !head.includes(0)) return 'file';
  throw badArchive(`the upload ${JSON.stringify(path.basename(sourceName))} is neither an archive (.zip, .tar.gz, .tar) nor a source file (.js, .mjs, .cjs, .py)`);
}

/**
 * Unpacks `sourcePath` into `targetDir`, which must not exist yet. Throws BAD_ARCHIVE (field "code")
 * for anything unsafe; other errors are the platform's own (disk, permissions).
 */
export async function extractUpload(sourcePath: string, sourceName: string, targetDir: string, limits: ExtractLimits): Promise<Extraction> {
  const stat = await fsp.stat(sourcePath);
  const head = await readHead(sourcePath, 512);
  const kind = detectKind(head, sourceName);
  await fsp.mkdir(targetDir, { recursive: false, mode: 0o755 });
  const tree = new SafeTree(targetDir, limits, stat.size);
  try {
    if (kind === 'file') return await saveSingleFile(sourcePath, sourceName, stat.size, tree, limits);
    if (kind === 'zip') await extractZip(sourcePath, tree);
    else await extractTar(sourcePath, kind === 'tar.gz', tree);
    await tree.finish();
    return { dir: tree.root, kind, entries: tree.entries, unpackedBytes: tree.unpackedBytes, singleFile: null };
  } catch (err) {
    await fsp.rm(targetDir, { recursive: true, force: true });
    throw err;
  }
}

async function saveSingleFile(sourcePath: string, sourceName: string, size: number, tree: SafeTree, limits: ExtractLimits): Promise<Extraction> {
  const name = path.basename(sourceName);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)) {
    throw badArchive(`the file name ${JSON.stringify(name)} is not usable as a module name; use letters, digits, "_", "-" and "."`);
  }
  if (size > limits.maxUnpackedBytes) throw badArchive(`the source file is larger than the ${Math.round(limits.maxUnpackedBytes / 1048576)} MB limit`);
  tree.countEntry();
  await tree.writeFile(name, async () => createReadStream(sourcePath), false, false);
  return { dir: tree.root, kind: 'file', entries: 1, unpackedBytes: tree.unpackedBytes, singleFile: name };
}

async function readHead(file: string, bytes: number): Promise<Buffer> {
  const handle = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
