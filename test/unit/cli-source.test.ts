// `stratus source NAME [VERSION]` against the gateway harness over HTTP: saves the version's upload under its
// uploaded name (the serving version by default), keeps an existing file unless --force, takes -o, and a
// server's file name cannot walk out of the directory.

import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { suggestedName } from '../../cli/commands/source.js';
import { createContext } from '../../cli/context.js';
import { buildProgram } from '../../cli/program.js';
import { Ui, type Stream } from '../../cli/ui.js';
import { StateLayout } from '../../core/state-layout.js';
import { API_KEY, auth, startHarness, type Harness } from '../support/gateway-harness.js';

class Capture implements Stream {
  text = '';
  write(t: string | Uint8Array): boolean {
    this.text += typeof t === 'string' ? t : Buffer.from(t).toString('utf8');
    return true;
  }
}

let h: Harness;
let server: http.Server;
let url: string;
let cwd: string;

beforeEach(async () => {
  h = await startHarness();
  server = http.createServer(h.app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-cli-source-'));
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await h.close();
  fs.rmSync(cwd, { recursive: true, force: true });
});

async function run(...args: string[]): Promise<{ out: string; error: unknown }> {
  const out = new Capture();
  const env = { STRATUS_URL: url, STRATUS_API_KEY: API_KEY };
  const ctx = createContext(new Ui(out, new Capture(), env), { env, cwd, home: cwd }, Object.assign(new PassThrough(), { isTTY: false }));
  try {
    await buildProgram(ctx, '0.0.0').parseAsync(['node', 'stratus', ...args]);
    return { out: out.text, error: null };
  } catch (error) {
    return { out: out.text, error };
  }
}

async function deployKept(text: string): Promise<number> {
  const res = await request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name: 'saved', runtime: 'node' })).attach('code', Buffer.from(text), 'index.mjs');
  const dir = new StateLayout(h.config.stateDir).source('saved', res.body.buildId);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'index.mjs'), text);
  await h.builder.succeed(res.body.buildId);
  return res.body.version;
}

describe('stratus source', () => {
  it('saves the serving version under its uploaded name, keeps an existing file, takes a version and -o', async () => {
    await deployKept('export default () => 1;\n');
    await deployKept('export default () => 2;\n');
    const first = await run('source', 'saved');
    expect(first.error).toBeNull();
    expect(first.out).toBe('saved v2: index.mjs\n');
    expect(fs.readFileSync(path.join(cwd, 'index.mjs'), 'utf8')).toBe('export default () => 2;\n');

    const again = await run('source', 'saved', 'v1');
    expect(String((again.error as Error).message)).toMatch(/index\.mjs exists; add --force/);
    expect(fs.readFileSync(path.join(cwd, 'index.mjs'), 'utf8')).toBe('export default () => 2;\n');
    expect((await run('source', 'saved', 'v1', '--force')).error).toBeNull();
    expect(fs.readFileSync(path.join(cwd, 'index.mjs'), 'utf8')).toBe('export default () => 1;\n');
    expect((await run('source', 'saved', '2', '-o', 'two.mjs')).error).toBeNull();
    expect(fs.readFileSync(path.join(cwd, 'two.mjs'), 'utf8')).toBe('export default () => 2;\n');

    const missing = await run('source', 'saved', '9');
    expect(String((missing.error as Error).message)).toMatch(/no version 9/);
  });

  it('never takes a path from the server\'s file name', () => {
    expect(suggestedName('attachment; filename="../../etc/passwd"', 'x')).toBe('passwd');
    expect(suggestedName('attachment; filename=".."', 'fallback')).toBe('fallback');
    expect(suggestedName(null, 'saved-v2')).toBe('saved-v2');
  });
});
