// The image step: a build context streamed as a tar (generated Dockerfile + the built code tree),
// `docker build` through dockerode, then a push to the registry. Progress goes to the build log; an
// error event in either stream fails the build with Docker's own words (they are about the user's code).

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import tarStream from 'tar-stream';
import type { Runtime } from '../core/types.js';

export interface ImageSpec {
  function: string;
  version: number;
  runtime: Runtime;
  handler: string;
  baseImage: string;
  /** Full reference to tag and push, e.g. 127.0.0.1:5000/stratus/hello:v1. */
  tag: string;
}

/** Reference of a version's image: <registry>/<prefix>/<function>:v<version>. */
export function imageTag(images: { registry: string; prefix: string }, fn: string, version: number): string {
  return `${imageRepository(images, fn)}:v${version}`;
}

export function imageRepository(images: { registry: string; prefix: string }, fn: string): string {
  return `${images.registry}/${images.prefix}/${fn}`;
}

export function dockerfile(spec: ImageSpec): string {
  // Code is owned by root and world-readable: the runtime's non-root user can read it, not change it.
  return [
    `FROM ${spec.baseImage}`,
    'COPY code/ /app/',
    `ENV STRATUS_CODE_DIR=/app STRATUS_HANDLER=${spec.handler} STRATUS_FUNCTION_NAME=${spec.function} STRATUS_FUNCTION_VERSION=${spec.version}`,
    `LABEL dev.stratus.function=${spec.function} dev.stratus.version=${spec.version} dev.stratus.runtime=${spec.runtime}`,
    '',
  ].join('\n');
}

/** Streams the context tar: Dockerfile at the top, the code tree under code/ with owner root. */
export function buildContext(codeDir: string, spec: ImageSpec): NodeJS.ReadableStream {
  const pack = tarStream.pack();
  const add = (header: tarStream.Header | Parameters<typeof pack.entry>[0], body?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body) pack.entry(header, body, cb);
      else pack.entry(header, cb);
    });
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const abs = path.join(dir, e.name);
      const name = `code/${rel}${e.name}`;
      const st = await fsp.lstat(abs);
      const owner = { uid: 0, gid: 0, mtime: st.mtime };
      if (st.isDirectory()) {
        await add({ name: `${name}/`, type: 'directory', mode: 0o755, ...owner });
        await walk(abs, `${rel}${e.name}/`);
      } else if (st.isSymbolicLink()) {
        await add({ name, type: 'symlink', linkname: await fsp.readlink(abs), ...owner });
      } else if (st.isFile()) {
        await new Promise<void>((resolve, reject) => {
          const sink = pack.entry({ name, type: 'file', size: st.size, mode: st.mode & 0o111 ? 0o755 : 0o644, ...owner }, (err) => (err ? reject(err) : resolve()));
          fs.createReadStream(abs).on('error', reject).pipe(sink as unknown as NodeJS.WritableStream);
        });
      }
    }
  };
  (async () => {
    await add({ name: 'Dockerfile', type: 'file', mode: 0o644 }, Buffer.from(dockerfile(spec)));
    await add({ name: 'code/', type: 'directory', mode: 0o755, uid: 0, gid: 0 });
    await walk(codeDir, '');
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as NodeJS.ReadableStream;
}

interface ProgressEvent {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Digest?: string; ID?: string };
}

/** Docker's own account of a failed build or push: shown in the build log, it is about the user's image. */
export class ImageStepError extends Error {
  override readonly name = 'ImageStepError';
}

/** Follows a Docker progress stream to its end; an error event rejects with Docker's message. */
function follow(docker: Docker, stream: NodeJS.ReadableStream, onEvent: (e: ProgressEvent) => void): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, events: ProgressEvent[]) => {
        if (err) return reject(new ImageStepError(err.message));
        const failed = events.find((e) => e.error || e.errorDetail);
        if (failed) return reject(new ImageStepError(failed.errorDetail?.message ?? failed.error ?? 'unknown error'));
        resolve(events);
      },
      onEvent,
    );
  });
}

export async function buildImage(docker: Docker, codeDir: string, spec: ImageSpec, log: (line: string) => void, signal: AbortSignal): Promise<void> {
  const stream = await docker.buildImage(buildContext(codeDir, spec), { t: spec.tag, rm: true, forcerm: true, abortSignal: signal } as Docker.ImageBuildOptions);
  await follow(docker, stream, (e) => {
    const text = e.stream ?? e.status ?? e.error;
    if (text && text.trim() !== '') log(text.trimEnd());
  });
}

/** Pushes a built tag; returns the manifest digest the registry reported, if any. */
export async function pushImage(docker: Docker, tag: string, log: (line: string) => void, signal: AbortSignal): Promise<string | null> {
  // An empty auth config still sends X-Registry-Auth, which newer engines require even for open registries.
  const stream = (await docker.getImage(tag).push({ authconfig: {}, abortSignal: signal } as Record<string, unknown>)) as NodeJS.ReadableStream;
  let digest: string | null = null;
  const seen = new Set<string>();
  await follow(docker, stream, (e) => {
    if (e.aux?.Digest) digest = e.aux.Digest;
    // Per-layer progress bars are noise in a log: keep one line per layer and status.
    const key = `${e.id ?? ''} ${e.status ?? ''}`;
    if (e.status && !e.progress && !seen.has(key)) {
      seen.add(key);
      log(e.id ? `${e.id}: ${e.status}` : e.status);
    }
  });
  return digest;
}
