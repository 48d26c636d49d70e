// A small client of the Stratus API for integration tests and benchmarks: deploy a function, wait for
// its build, pack a directory as .tar.gz.

import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import tar from 'tar-stream';

export interface PlatformAddress {
  url: string;
  apiKey: string;
}

export async function deployFunction(
  platform: PlatformAddress,
  config: Record<string, unknown>,
  code: { file: string; content: string | Buffer },
): Promise<Response> {
  const form = new FormData();
  form.set('config', new Blob([JSON.stringify(config)], { type: 'application/json' }));
  form.set('code', new Blob([code.content]), code.file);
  return fetch(`${platform.url}/v1/functions`, { method: 'POST', body: form, headers: { authorization: `Bearer ${platform.apiKey}` } });
}

export interface BuildView {
  id: string;
  status: string;
  error: string | null;
  image: string | null;
}

/** Poll a build until it succeeds or fails (bounded: a build that never ends fails the test). */
export async function waitForBuild(platform: PlatformAddress, buildId: string, timeoutMs = 240_000): Promise<BuildView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${platform.url}/v1/builds/${buildId}`, { headers: { authorization: `Bearer ${platform.apiKey}` } });
    const build = (await res.json()) as BuildView;
    if (build.status === 'succeeded' || build.status === 'failed') return build;
    if (Date.now() > until) throw new Error(`build ${buildId} still ${build.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Pack a directory (recursively) into a .tar.gz buffer. */
export async function tarGzOf(dir: string): Promise<Buffer> {
  const pack = tar.pack();
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const name = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) {
        if (entry.name === 'node_modules') continue;
        pack.entry({ name: name + '/', type: 'directory', mode: 0o755 });
        await walk(name);
      } else if (entry.isFile()) {
        pack.entry({ name, mode: 0o644 }, await fs.readFile(path.join(dir, name)));
      }
    }
  };
  await walk('');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack.pipe(zlib.createGzip())) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
