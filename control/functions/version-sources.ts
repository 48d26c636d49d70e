// A version's source as it was uploaded, kept by its build (StateLayout.source): the file itself for
// GET /v1/functions/NAME/versions/N/source (and the CLI), and its text files for the console's editor —
// unpacked by the builder's own safe extraction under the upload limits, then read within bounds so a
// huge or binary file can never make a huge JSON answer.

import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StratusError } from '../../core/errors.js';
import { StateLayout } from '../../core/state-layout.js';
import type { Store } from '../../core/store/store.js';
import { extractUpload, type ExtractLimits } from '../../builder/extract.js';
import { artifactKeys } from '../../builder/artifact-keys.js';
import type { ArtifactStore } from '../../core/ports/artifact-store.js';

/** What the editor is given at most: enough for a function's own code, never a dependency tree. */
export const SOURCE_VIEW_LIMITS = { maxFiles: 200, maxFileBytes: 256 * 1024, maxTotalBytes: 2 * 1024 * 1024 } as const;

export interface KeptSource {
  /** The file on disk, as uploaded. */
  path: string;
  /** Its name as uploaded (sanitised): hello.py, code.zip, app.tar.gz. */
  name: string;
  bytes: number;
  buildId: string;
}

/** Why a file's text is not in the answer: not UTF-8 text, over the per-file bound, over the total, or a link. */
export type OmittedReason = 'binary' | 'too-large' | 'total-exceeded' | 'link';

export interface SourceFile {
  path: string;
  bytes: number;
  /** The file's text; absent when `omitted` says why. */
  text?: string;
  omitted?: OmittedReason;
}

export interface SourceFiles {
  function: string;
  version: number;
  sourceName: string;
  /** Set when the upload was a single file: the editor saves it under the same name. */
  singleFile: string | null;
  files: SourceFile[];
  /** More files than SOURCE_VIEW_LIMITS.maxFiles: the rest are not listed. */
  truncated: boolean;
}

export class VersionSources {
  constructor(
    private readonly store: Store,
    private readonly stateDir: string,
    private readonly limits: ExtractLimits,
    /** Where a build on another replica kept the source (builder/build-service-bull.ts); absent: this disk only. */
    private readonly artifacts?: ArtifactStore,
  ) {}

  /** The kept upload of version `version`; NOT_FOUND / FUNCTION_NOT_FOUND / SOURCE_NOT_KEPT otherwise. */
  async file(fn: string, version: number): Promise<KeptSource> {
    const v = await this.store.getVersion(fn, version);
    if (!v) {
      if (!(await this.store.getFunction(fn))) throw new StratusError('FUNCTION_NOT_FOUND', `no function named "${fn}"; list them with GET /v1/functions`, { function: fn });
      throw new StratusError('NOT_FOUND', `function ${fn} has no version ${version}; list them with GET /v1/functions/${fn}`, { function: fn, version });
    }
    const notKept = (why: string) => new StratusError('SOURCE_NOT_KEPT', `version ${version} of ${fn} has no source to give back: ${why}`, { function: fn, version });
    if (v.buildId === null) throw notKept('it runs an image given at deploy, not uploaded code');
    const dir = new StateLayout(this.stateDir).source(fn, v.buildId);
    let names = await fsp.readdir(dir).catch(() => [] as string[]);
    if (names.length === 0 && this.artifacts && (await this.#fetch(fn, v.buildId, dir))) names = await fsp.readdir(dir).catch(() => []);
    if (names.length !== 1) {
      throw notKept(v.status === 'building' ? 'its build has not read it yet; try again when the build is done' : 'it was built before Stratus kept sources');
    }
    const file = path.join(dir, names[0]!);
    return { path: file, name: names[0]!, bytes: (await fsp.stat(file)).size, buildId: v.buildId };
  }

  /**
   * Copies a source kept in the ArtifactStore to this disk, where the build's own replica keeps it: read
   * from there afterwards. Written beside the dir and renamed in, so a concurrent reader sees it whole or not at all.
   */
  async #fetch(fn: string, buildId: string, dir: string): Promise<boolean> {
    const [name, body] = await Promise.all([this.artifacts!.get(artifactKeys.sourceName(fn, buildId)), this.artifacts!.get(artifactKeys.source(fn, buildId))]);
    const file = name?.toString('utf8');
    // The name was the build's own sanitised one; one that is not a plain file name is not followed.
    if (!file || !body || file !== path.basename(file) || file === '.' || file === '..') return false;
    await fsp.mkdir(dir, { recursive: true });
    const tmp = `${dir}.${process.pid}.${Date.now()}.tmp`;
    await fsp.writeFile(tmp, body);
    await fsp.rename(tmp, path.join(dir, file));
    return true;
  }

  /** The kept upload's files with the text of each within SOURCE_VIEW_LIMITS. */
  async files(fn: string, version: number): Promise<SourceFiles> {
    const kept = await this.file(fn, version);
    const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'stratus-source-'));
    try {
      const x = await extractUpload(kept.path, kept.name, path.join(tmp, 'code'), this.limits);
      const { files, truncated } = await readBounded(x.dir);
      return { function: fn, version, sourceName: kept.name, singleFile: x.singleFile, files, truncated };
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  }
}

/** Every file under `root` (sorted, '/'-separated), with its text while the bounds allow. */
export async function readBounded(root: string, limits = SOURCE_VIEW_LIMITS): Promise<{ files: SourceFile[]; truncated: boolean }> {
  const entries = await fsp.readdir(root, { recursive: true, withFileTypes: true });
  const all = entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => ({ rel: path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'), link: e.isSymbolicLink() }))
    .sort((a, b) => a.rel.localeCompare(b.rel));
  const files: SourceFile[] = [];
  let total = 0;
  for (const { rel, link } of all.slice(0, limits.maxFiles)) {
    const full = path.join(root, rel);
    if (link) {
      files.push({ path: rel, bytes: 0, omitted: 'link' });
      continue;
    }
    const { size } = await fsp.stat(full);
    if (size > limits.maxFileBytes) files.push({ path: rel, bytes: size, omitted: 'too-large' });
    else if (total + size > limits.maxTotalBytes) files.push({ path: rel, bytes: size, omitted: 'total-exceeded' });
    else {
      const text = asText(await fsp.readFile(full));
      if (text === null) files.push({ path: rel, bytes: size, omitted: 'binary' });
      else {
        total += size;
        files.push({ path: rel, bytes: size, text });
      }
    }
  }
  return { files, truncated: all.length > limits.maxFiles };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text without NUL bytes, else null (an image, a compiled module: nothing an editor should show). */
function asText(buf: Buffer): string | null {
  if (buf.includes(0)) return null;
  try {
    return utf8.decode(buf);
  } catch {
    return null;
  }
}
