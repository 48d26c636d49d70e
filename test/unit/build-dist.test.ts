// `npm start`'s build (scripts/build-dist.mjs, package.json's prestart): on a project with no output it
// builds everything, with nothing changed it writes nothing, and after a source changed the next start
// runs the new code. Driven as npm runs it — the prestart command from package.json, in the project's
// folder — on a small project in a temp dir with this repo's tsconfig options, so it is quick.

import { execFile } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '../..');
const PKG = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

let dir: string;

async function write(rel: string, text: string, mtime?: Date): Promise<void> {
  const file = path.join(dir, rel);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text);
  if (mtime) await fs.utimes(file, mtime, mtime);
}

/** The prestart command exactly as package.json has it, its script path pointing into this repo. */
async function prestart(): Promise<string> {
  const cmd = PKG.scripts.prestart!;
  expect(cmd).toMatch(/^node scripts\/build-dist\.mjs(\s|$)/);
  const args = cmd.split(/\s+/).slice(1).map((a, i) => (i === 0 ? path.join(REPO, a) : a));
  const { stderr } = await run(process.execPath, args, { cwd: dir });
  return stderr;
}

const started = async () => (await run(process.execPath, [path.join(dir, 'dist/app/main.js')], { cwd: dir })).stdout.trim();
const mtimeOf = async (rel: string) => (await fs.stat(path.join(dir, rel))).mtimeMs;
const past = new Date(Date.now() - 60_000);

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-build-'));
  // This repo's compiler options (target, module, outDir …) with a small include.
  const tsconfig = JSON.parse(await fs.readFile(path.join(REPO, 'tsconfig.json'), 'utf8')) as Record<string, unknown>;
  await write('tsconfig.json', JSON.stringify({ ...tsconfig, include: ['app'], exclude: ['dist'] }));
  await write('package.json', JSON.stringify({ type: 'module' }));
  await write('app/greeting.ts', "export const greeting = (who: string): string => `hello ${who}`;\n", past);
  await write('app/main.ts', "import { greeting } from './greeting.js';\nconst who: string = 'one';\nconsole.log(greeting(who));\n", past);
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('npm start builds only what changed', () => {
  it('builds everything the first time (no dist/ yet)', async () => {
    expect(await prestart()).toMatch(/2 of 2 sources transpiled/);
    expect(await started()).toBe('hello one');
  });

  it('writes nothing and says nothing when no source changed', async () => {
    await prestart();
    const before = [await mtimeOf('dist/app/main.js'), await mtimeOf('dist/app/greeting.js')];
    expect(await prestart()).toBe('');
    expect([await mtimeOf('dist/app/main.js'), await mtimeOf('dist/app/greeting.js')]).toEqual(before);
  });

  it('rebuilds a changed source, and only it, so the next start runs the new code', async () => {
    await prestart();
    const main = await mtimeOf('dist/app/main.js');
    // Seconds after the build, as an edit is (a file system with coarse timestamps could not tell
    // an edit in the same tick from the build before it).
    await write('app/greeting.ts', "export const greeting = (who: string): string => `hi ${who}`;\n", new Date(Date.now() + 2000));
    expect(await prestart()).toMatch(/1 of 2 sources transpiled/);
    expect(await started()).toBe('hi one');
    expect(await mtimeOf('dist/app/main.js')).toBe(main);
  });

  it('rebuilds a source whose timestamp moved past its output (a checkout, an editor save)', async () => {
    await prestart();
    const future = new Date(Date.now() + 60_000);
    await fs.utimes(path.join(dir, 'app/main.ts'), future, future);
    expect(await prestart()).toMatch(/1 of 2 sources transpiled/);
    expect(await mtimeOf('dist/app/main.js')).toBeGreaterThan(Date.now() - 30_000);
  });

  it('rebuilds everything when tsconfig.json changed', async () => {
    await prestart();
    const tsconfig = JSON.parse(await fs.readFile(path.join(dir, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
    await write('tsconfig.json', JSON.stringify({ ...tsconfig, compilerOptions: { ...tsconfig.compilerOptions, sourceMap: false } }));
    expect(await prestart()).toMatch(/2 of 2 sources transpiled/);
  });

  it('removes the output of a deleted source, so it cannot be imported from dist/ any more', async () => {
    await write('app/old.ts', 'export const x = 1;\n', past);
    await prestart();
    await fs.rm(path.join(dir, 'app/old.ts'));
    expect(await prestart()).toMatch(/2 stale outputs removed/);
    await expect(fs.stat(path.join(dir, 'dist/app/old.js'))).rejects.toThrow();
    expect(await started()).toBe('hello one');
  });

  it('fails the start on a syntax error, naming the file', async () => {
    await prestart();
    await write('app/main.ts', 'const = ;\n', new Date(Date.now() + 2000));
    const err = await prestart().then(() => null, (e: { code: number; stderr: string }) => e);
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/app\/main\.ts/);
  });
});

describe("the repo's own sources", () => {
  it('transpile, and the CLI built from them starts', async () => {
    // Into a folder inside the repo (git-ignored dist/) so the output resolves the repo's node_modules.
    await fs.mkdir(path.join(REPO, 'dist'), { recursive: true });
    const out = await fs.mkdtemp(path.join(REPO, 'dist', 'build-test-'));
    try {
      await run(process.execPath, [path.join(REPO, 'scripts/build-dist.mjs'), '--outdir', out], { cwd: REPO });
      const { stdout } = await run(process.execPath, [path.join(out, 'cli/main.js'), '--version'], { cwd: REPO });
      expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    } finally {
      await fs.rm(out, { recursive: true, force: true });
    }
  }, 60_000);
});
